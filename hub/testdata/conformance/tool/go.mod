// The CloudEvents conformance tool, which TestConformanceTool builds: a
// module of its own, so its old dependency graph stays out of moonwake's.
module github.com/moonwake/moonwake/hub/testdata/conformance/tool

go 1.26.8

tool github.com/cloudevents/conformance/cmd/cloudevents

require (
	github.com/cloudevents/conformance v0.4.1 // indirect
	github.com/google/go-cmp v0.5.7 // indirect
	github.com/inconshreveable/mousetrap v1.0.0 // indirect
	github.com/kylelemons/godebug v1.1.0 // indirect
	github.com/spf13/cobra v1.3.0 // indirect
	github.com/spf13/pflag v1.0.5 // indirect
	golang.org/x/xerrors v0.0.0-20200804184101-5ec99f83aff1 // indirect
	gopkg.in/yaml.v2 v2.4.0 // indirect
)
