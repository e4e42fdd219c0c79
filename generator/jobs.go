package generator

// jobsLayer renders the background jobs.
func jobsLayer(n Names) ([]File, []Migration, error) {
	return nil, nil, nil
}
