package generator

// flowLayer renders the server registry, the OAuth 2.1 flow, the token
// source and the client factory of the generated package.
func flowLayer(n Names) ([]File, []Migration, error) {
	return nil, nil, nil
}
