package main

import _ "github.com/jackc/pgx/v5/stdlib" // DATABASE_DRIVER=pgx
