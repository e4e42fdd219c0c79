package generator

// flowSources are the files of the flow core, rendered from the templates
// of the same name under templates/mcpoauth. servers.go is the user's to
// edit (its header says so); the others are not.
var flowSources = []string{
	"servers.go", "urls.go", "discovery.go", "registration.go", "flow.go", "tokensource.go", "client.go",
	"servers_test.go", "oauthserver_test.go", "flow_test.go", "client_bench_test.go",
}

// flowLayer renders the server registry, the OAuth 2.1 flow, the token
// source and the client factory of the generated package, with their
// tests. It adds no migration: the clients table it uses is the data
// layer's.
func flowLayer(n Names) ([]File, []Migration, error) {
	files, err := renderGoSources("mcpoauth", n.PackageDir, flowSources, n)
	return files, nil, err
}
