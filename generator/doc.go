// Package generator plans and writes the files of `mcpgen oauth install`.
//
// The pipeline reads in one direction: Options (what the user asked for) are
// resolved against the target project into Names (every name and path the
// files are written from); Names render into Files and Migrations; the
// planner compares those with the target, read through an fs.FS, and
// returns a Plan of Changes without writing anything; Apply, the one writer,
// carries a Plan out.
package generator
