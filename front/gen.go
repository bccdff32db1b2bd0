package front

// The Fission function's copy of front.go (see the package comment).
//go:generate sh -c "{ echo '// Code generated from front/front.go by go generate in front/. DO NOT EDIT.'; echo; sed 's/^package front$/package main/' front.go; } > ../deploy/fission/wake/front.go"
