package sqltest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Insert inserts a row into table with values, and a made-up value for
// every other column that must have one: NOT NULL, without a default,
// not generated. Each made-up value is unique (random), so UNIQUE
// constraints hold, and fits the column's type and length. It reads the
// columns from the database itself (PRAGMA table_info, information_schema),
// so the tests of an app keep passing when its user table gains a
// required column. A column whose type it cannot fill fails the test,
// naming it: pass it in values.
func Insert(t testing.TB, db *DB, table string, values map[string]any) {
	t.Helper()
	cols, err := requiredColumns(context.Background(), db, strings.Trim(table, "\"`"))
	if err != nil {
		t.Fatalf("sqltest: columns of %s: %v", table, err)
	}
	names := make([]string, 0, len(values)+len(cols))
	args := make([]any, 0, cap(names))
	for name, v := range values {
		names, args = append(names, name), append(args, v)
	}
	for _, c := range cols {
		if _, given := values[c.name]; given {
			continue
		}
		v, ok := madeUp(c)
		if !ok {
			t.Fatalf("sqltest: %s.%s is required and of type %s, which Insert cannot make up: give it a value", table, c.name, c.typ)
		}
		names, args = append(names, c.name), append(args, v)
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(names)), ", ")
	query := db.Rebind("INSERT INTO " + table + " (" + strings.Join(names, ", ") + ") VALUES (" + marks + ")")
	if _, err := db.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("sqltest: %s: %v", query, err)
	}
}

// column is a column that needs a value.
type column struct {
	name string
	typ  string // lower case, as the database reports it: "varchar(255)", "bigint", ...
	size int    // the character length, when the type bounds it; 0 otherwise
}

// requiredColumns returns the columns of table that are NOT NULL, have no
// default and are not filled by the database (identity, auto-increment,
// SQLite's INTEGER PRIMARY KEY).
func requiredColumns(ctx context.Context, db *DB, table string) ([]column, error) {
	var cols []column
	switch db.Dialect {
	case SQLite:
		rows, err := db.QueryContext(ctx, "SELECT name, type, \"notnull\", dflt_value IS NOT NULL, pk FROM pragma_table_info(?)", table)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var c column
			var notNull, hasDefault bool
			var pk int
			if err := rows.Scan(&c.name, &c.typ, &notNull, &hasDefault, &pk); err != nil {
				return nil, err
			}
			c.typ = strings.ToLower(c.typ)
			rowid := pk == 1 && c.typ == "integer" // an alias of the rowid: SQLite fills it
			if (notNull || pk > 0) && !hasDefault && !rowid {
				c.size = typeSize(c.typ)
				cols = append(cols, c)
			}
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	default:
		query := `SELECT column_name, data_type, COALESCE(character_maximum_length, 0)
FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = $1 AND is_nullable = 'NO'
	AND column_default IS NULL AND is_identity = 'NO' AND is_generated = 'NEVER'
ORDER BY ordinal_position`
		if db.Dialect == MySQL {
			query = `SELECT column_name, column_type, COALESCE(character_maximum_length, 0)
FROM information_schema.columns
WHERE table_schema = DATABASE() AND table_name = ? AND is_nullable = 'NO'
	AND column_default IS NULL AND extra NOT LIKE '%auto_increment%' AND extra NOT LIKE '%GENERATED%'
ORDER BY ordinal_position`
		}
		rows, err := db.QueryContext(ctx, query, table)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var c column
			if err := rows.Scan(&c.name, &c.typ, &c.size); err != nil {
				return nil, err
			}
			c.typ = strings.ToLower(c.typ)
			cols = append(cols, c)
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	if len(cols) == 0 {
		// A table with no required column still exists: check it does.
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+quote(db.Dialect, table)+" WHERE 1 = 0").Scan(&n); err != nil {
			return nil, err
		}
	}
	return cols, nil
}

var sizePattern = regexp.MustCompile(`\((\d+)\)`)

// typeSize is the length in a type such as "varchar(40)", or 0.
func typeSize(typ string) int {
	if m := sizePattern.FindStringSubmatch(typ); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

var enumPattern = regexp.MustCompile(`^enum\('((?:[^']|'')*)'`)

// madeUp returns a random value of c's type, or false for a type it does
// not know.
func madeUp(c column) (any, bool) {
	typ := c.typ
	has := func(words ...string) bool {
		return slices.ContainsFunc(words, func(w string) bool { return strings.Contains(typ, w) })
	}
	switch {
	case strings.HasPrefix(typ, "enum("):
		m := enumPattern.FindStringSubmatch(typ)
		if m == nil {
			return nil, false
		}
		return strings.ReplaceAll(m[1], "''", "'"), true
	case typ == "uuid":
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
		h := hex.EncodeToString(b)
		return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], true
	case has("bool"):
		return false, true
	case typ == "tinyint(1)":
		return 0, true
	case has("tinyint"):
		return mrand.IntN(100), true
	case has("smallint"):
		return mrand.IntN(30000), true
	case has("int", "serial"):
		return mrand.Int64N(1 << 31), true
	case has("numeric", "decimal", "real", "double", "float"):
		return mrand.IntN(1000), true
	case has("timestamp", "datetime", "date", "time"):
		return time.Now().UTC().Truncate(time.Second), true
	case has("json"):
		return "{}", true
	case has("bytea", "blob", "binary"):
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		return b, true
	case has("char", "text", "clob", "string") || typ == "":
		s := fmt.Sprintf("t%015x", mrand.Uint64()>>4)
		if c.size > 0 && c.size < len(s) {
			s = s[:c.size]
		}
		return s, true
	}
	return nil, false
}

// quote quotes a table name as the dialect does.
func quote(dialect, name string) string {
	if dialect == MySQL {
		return "`" + name + "`"
	}
	return `"` + name + `"`
}
