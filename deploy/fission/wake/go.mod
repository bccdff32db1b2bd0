// The moonwake wake function for Fission's Go environment: standard library
// only, so the plugin shares no module with the environment's server.
module github.com/moonwake/moonwake/deploy/fission/wake

go 1.23
