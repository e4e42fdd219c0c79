-- +goose Up
-- A user table as apps have them: required, unique and bounded columns.
CREATE TABLE people (
    id BIGINT PRIMARY KEY,
    email VARCHAR(40) NOT NULL UNIQUE,
    handle CHAR(8) NOT NULL UNIQUE,
    name TEXT NOT NULL,
    age INTEGER NOT NULL,
    active BOOLEAN NOT NULL,
    born DATE NOT NULL,
    score DECIMAL(10, 2) NOT NULL,
    nickname VARCHAR(20),
    plan VARCHAR(10) NOT NULL DEFAULT 'free'
);

-- +goose Down
DROP TABLE people;
