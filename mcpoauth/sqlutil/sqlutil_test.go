package sqlutil

import (
	"errors"
	"testing"
	"time"

	"github.com/mcpgen/mcpgen/mcpoauth"
)

type result struct{ n int64 }

func (r result) LastInsertId() (int64, error) { return 0, nil }
func (r result) RowsAffected() (int64, error) { return r.n, nil }

func TestTime(t *testing.T) {
	want := time.Date(2026, 12, 2, 10, 30, 0, 123456000, time.UTC)
	for _, src := range []any{
		want, want.In(time.FixedZone("X", 3600)), "2026-12-02 10:30:00.123456", []byte("2026-12-02T10:30:00.123456Z"),
		"2026-12-02 10:30:00.123456+00",
	} {
		var got time.Time
		if err := Time(&got).Scan(src); err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("Time.Scan(%v) = %v, %v; want %v in UTC", src, got, err, want)
		}
	}
	got := want
	if err := Time(&got).Scan(nil); err != nil || !got.IsZero() {
		t.Errorf("Time.Scan(nil) = %v, %v; want the zero time", got, err)
	}
	if err := Time(&got).Scan("yesterday"); err == nil {
		t.Error("Time.Scan(\"yesterday\") succeeded")
	}
	if err := Time(&got).Scan(42); err == nil {
		t.Error("Time.Scan(42) succeeded")
	}
}

func TestNulls(t *testing.T) {
	s := "x"
	if err := Text(&s).Scan(nil); err != nil || s != "" {
		t.Errorf("Text.Scan(nil) = %q, %v", s, err)
	}
	if Null("") != nil || Null("a") != "a" {
		t.Error("Null: want nil for \"\" and the string otherwise")
	}
	bind := func(t time.Time) any { return t.Unix() }
	if NullTime(time.Time{}, bind) != nil || NullTime(time.Unix(7, 0), bind) != int64(7) {
		t.Error("NullTime: want nil for the zero time and bind(t) otherwise")
	}
}

func TestOneRow(t *testing.T) {
	if err := OneRow(result{1}, nil); err != nil {
		t.Errorf("one row: %v", err)
	}
	if err := OneRow(result{0}, nil); !errors.Is(err, mcpoauth.ErrNotFound) {
		t.Errorf("no row: %v, want mcpoauth.ErrNotFound", err)
	}
	if err := OneRow(result{2}, nil); err == nil {
		t.Error("two rows: no error")
	}
	boom := errors.New("boom")
	if err := OneRow(nil, boom); !errors.Is(err, boom) {
		t.Errorf("statement error: %v", err)
	}
}
