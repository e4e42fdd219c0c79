-- +goose Up
CREATE TABLE people (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE people;
