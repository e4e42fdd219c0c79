package main

import _ "github.com/go-sql-driver/mysql" // DATABASE_DRIVER=mysql
