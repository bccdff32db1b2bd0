// Package deploy holds no code: it is moonwake's packaging for Kubernetes
// (the Helm chart in helm/, plain manifests in kustomize/) and the container
// image (image/, Dockerfile at the repository's root), in a module of its own
// so that Helm, client-go and controller-runtime stay out of moonwake's
// go.mod.
//
// Its tests prove the packaging on real parts: Helm's own lint and renderer
// (helm.sh/helm/v4), kustomize's (krusty), and a real kube-apiserver with
// etcd (controller-runtime's envtest, KUBEBUILDER_ASSETS from
// tools/kube-testenv.sh), which judges every object with server-side dry
// run, strict field validation and Pod Security admission.
package deploy
