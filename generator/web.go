package generator

// webLayer renders the HTTP handler, its views and the rate limits.
func webLayer(n Names) ([]File, []Migration, error) {
	return nil, nil, nil
}
