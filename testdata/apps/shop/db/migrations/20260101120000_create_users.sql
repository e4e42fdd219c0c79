-- +goose Up
CREATE TABLE users (
    id BIGINT PRIMARY KEY,
    email VARCHAR(255) NOT NULL DEFAULT ''
);

CREATE TABLE accounts (
    id BIGINT PRIMARY KEY,
    name VARCHAR(255) NOT NULL DEFAULT ''
);

CREATE TABLE members (
    id VARCHAR(64) PRIMARY KEY,
    name VARCHAR(255) NOT NULL DEFAULT ''
);

CREATE TABLE team_members (
    id BIGINT PRIMARY KEY
);

-- +goose Down
DROP TABLE team_members;
DROP TABLE members;
DROP TABLE accounts;
DROP TABLE users;
