-- +goose Up
CREATE TABLE members (
    id BIGSERIAL PRIMARY KEY,
    handle VARCHAR(32) NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    joined_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE members;
