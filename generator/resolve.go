package generator

import (
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// Resolve derives every name and path of a run from the options and the
// target project, read through fsys. Notes say what was detected, for the
// user to read. It writes nothing.
func Resolve(fsys fs.FS, opts Options) (Names, []string, error) {
	var n Names
	var notes []string

	mod, err := readGoMod(fsys)
	if err != nil {
		return n, nil, err
	}
	n.Module = mod.Module
	n.SkipRoutes, n.SkipViews, n.CurrentUser, n.Dir = opts.SkipRoutes, opts.SkipViews, opts.CurrentUser, opts.Dir

	if n.Namespace, err = namespaceParts(opts.Namespace); err != nil {
		return n, nil, err
	}
	if n.HandlerType, err = handlerType(opts.HandlerName, opts.ControllerName); err != nil {
		return n, nil, err
	}

	if n.MigrationsDir, err = cleanRelDir("--migrations-dir", opts.MigrationsDir); err != nil {
		return n, nil, err
	}
	if n.MigrationsDir == "" {
		if n.MigrationsDir, err = findMigrationsDir(fsys); err != nil {
			return n, nil, err
		}
		if n.MigrationsDir == "" {
			n.MigrationsDir = defaultMigrationsDir
			notes = append(notes, "no goose migrations folder found: writing migrations to "+defaultMigrationsDir+" (pass --migrations-dir to choose)")
		} else {
			notes = append(notes, "migrations folder "+n.MigrationsDir+", found by its goose migrations")
		}
	}

	schema, err := readAppSchema(fsys, n.MigrationsDir)
	if err != nil {
		return n, nil, err
	}
	if opts.Database != "" {
		if n.Dialect, err = parseDialect(opts.Database); err != nil {
			return n, nil, err
		}
	} else {
		var note string
		if n.Dialect, note, err = detectDialect(mod, schema); err != nil {
			return n, nil, err
		}
		notes = append(notes, note)
	}

	model := opts.UserModel
	if model == "" {
		if model, err = defaultUserModel(fsys, schema, &notes); err != nil {
			return n, nil, err
		}
	}
	if n.UserModel, err = modelName(model); err != nil {
		return n, nil, err
	}
	if err := resolveUser(fsys, opts, schema, &n, &notes); err != nil {
		return n, nil, err
	}

	placePackage(&n)

	if err := checkHandlerCollision(fsys, n); err != nil {
		return n, nil, err
	}
	return n, notes, nil
}

// defaultMigrationsDir is where migrations go in a module that has none.
const defaultMigrationsDir = "db/migrations"

// placePackage names the generated package, its routes and views from the
// module, namespace and handler type of n.
func placePackage(n *Names) {
	var nsDirs, nsRoute []string
	for _, p := range n.Namespace {
		nsDirs = append(nsDirs, lowerPkg(p))
		nsRoute = append(nsRoute, underscore(p))
	}
	n.PackageName = "mcpoauth"
	n.PackageDir = path.Join(append(append([]string{"internal"}, nsDirs...), n.PackageName)...)
	n.PackageImport = n.Module + "/" + n.PackageDir
	n.Resource = underscore(strings.TrimSuffix(n.HandlerType, "Handler"))
	if n.Resource == "" {
		n.Resource = "mcp_connections"
	}
	n.RoutePrefix = "/" + path.Join(append(nsRoute, n.Resource)...)
	n.ViewDir = n.PackageDir + "/views/" + n.Resource
}

// userHelpersPath is the file of the user helpers: beside modelFile, the
// file declaring the user model.
func userHelpersPath(modelFile, model string) string {
	return path.Join(path.Dir(modelFile), underscore(model)+"_mcp_oauth.go")
}

// resolveUser finds the user model and settles its table, key column and
// ID type, with flags taking precedence over what was found.
func resolveUser(fsys fs.FS, opts Options, schema appSchema, n *Names, notes *[]string) error {
	snake := underscore(n.UserModel)
	n.UserFK = snake + "_id"
	n.UserTable = pluralize(snake)
	if opts.UserTable != "" {
		if !sqlIdent(opts.UserTable) {
			return inputErrorf("use a plain table name such as users or app_users",
				"--user-table %s is not a plain SQL table name", quote(opts.UserTable))
		}
		n.UserTable = opts.UserTable
	}

	var flagType IDType
	if opts.UserIDType != "" {
		t, err := parseIDType(opts.UserIDType)
		if err != nil {
			return err
		}
		flagType = t
	}

	if err := checkUserTable(schema, n); err != nil {
		return err
	}
	m, others, err := findUserModel(fsys, n.UserModel)
	if err != nil {
		return err
	}
	if m == nil {
		*notes = append(*notes, fmt.Sprintf("type %s struct not found in the module: no user helpers written; table %s, id type %s from flags and defaults",
			n.UserModel, n.UserTable, orDefault(flagType, IDInt64)))
		n.UserIDType = orDefault(flagType, IDInt64)
		if n.UserIDType == IDUUID {
			n.UserIDImport = "github.com/google/uuid"
		}
		return nil
	}
	if len(others) > 0 {
		*notes = append(*notes, fmt.Sprintf("type %s is declared in several places; using %s (also in %s)",
			n.UserModel, m.File, strings.Join(others, ", ")))
	}
	n.UserModelFile = m.File
	n.UserModelPkg = m.Pkg
	n.UserHelpers = userHelpersPath(m.File, n.UserModel)

	switch {
	case m.IDField == "":
		return inputErrorf("add an ID field to "+n.UserModel+", or pass --user-id-type with the type of its primary key",
			"type %s in %s has no ID field", n.UserModel, m.File)
	case m.IDType == "" && flagType == "":
		return inputErrorf("pass --user-id-type=int64, string or uuid",
			"the ID field of %s in %s has type %s, which mcpgen cannot map to a column type", n.UserModel, m.File, m.IDRaw)
	case m.IDType != "" && flagType != "" && flagType != m.IDType:
		return inputErrorf("drop --user-id-type, or change the model",
			"--user-id-type=%s contradicts %s.%s, which is %s in %s", flagType, n.UserModel, m.IDField, m.IDRaw, m.File)
	}
	n.UserIDField = m.IDField
	n.UserIDType = orDefault(m.IDType, flagType)
	n.UserIDImport = m.UUIDImp
	if n.UserIDType == IDUUID && n.UserIDImport == "" {
		n.UserIDImport = "github.com/google/uuid"
	}
	*notes = append(*notes, fmt.Sprintf("user model %s in %s (ID %s): table %s, column %s",
		n.UserModel, m.File, m.IDRaw, n.UserTable, n.UserFK))
	return nil
}

func orDefault(t, def IDType) IDType {
	if t == "" {
		return def
	}
	return t
}

func sqlIdent(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i, r := range s {
		ok := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9')
		if !ok {
			return false
		}
	}
	return true
}

// checkHandlerCollision refuses a handler name already declared by the
// user in the package mcpgen writes into. Files mcpgen wrote itself are
// recognised by their header and do not count.
func checkHandlerCollision(fsys fs.FS, n Names) error {
	types, err := declaredTypes(fsys, n.PackageDir)
	if err != nil {
		return err
	}
	file, ok := types[n.HandlerType]
	if !ok {
		return nil
	}
	src, err := fs.ReadFile(fsys, file)
	if err == nil && isGenerated(src) {
		return nil
	}
	return inputErrorf("pass another --handler-name, or rename the existing type",
		"handler name %s collides with type %s declared in %s", n.HandlerType, n.HandlerType, file)
}

// isGenerated reports whether src starts with an mcpgen header.
func isGenerated(src []byte) bool {
	s := string(src)
	return strings.HasPrefix(s, "// Code generated by mcpgen") || strings.HasPrefix(s, "// Generated by mcpgen")
}

// checkUserTable refuses a user table the app's migrations do not create:
// the foreign keys of the new tables would reference nothing, and goose up
// would fail. Go migrations may create anything, so with them it only notes.
func checkUserTable(schema appSchema, n *Names) error {
	if _, ok := schema.Tables[strings.ToLower(n.UserTable)]; ok || schema.Opaque {
		return nil
	}
	return inputErrorf("pass --user-table with the table of your users (or the model: mcpgen oauth install Account), or create the table in a migration first",
		"no migration in %s creates the table %s, which the new tables' %s would reference (the migrations create: %s)",
		n.MigrationsDir, n.UserTable, n.UserFK, schema.tableNames())
}

// defaultUserModel is the model when none is given: User when the module
// declares it, else the only struct with an ID field whose table the
// migrations create.
func defaultUserModel(fsys fs.FS, schema appSchema, notes *[]string) (string, error) {
	if m, _, err := findUserModel(fsys, "User"); err != nil || m != nil {
		return "User", err
	}
	cands, err := userModelCandidates(fsys, schema)
	if err != nil {
		return "", err
	}
	switch len(cands) {
	case 0:
		return "User", nil
	case 1:
		c := cands[0]
		*notes = append(*notes, fmt.Sprintf("no type User: using %s (%s), the only struct with an ID field whose table %s the migrations create",
			c.Name, c.File, c.Table))
		return c.Name, nil
	}
	var list []string
	for _, c := range cands {
		list = append(list, fmt.Sprintf("%s (%s, table %s)", c.Name, c.File, c.Table))
	}
	return "", inputErrorf("name the model: mcpgen oauth install "+cands[0].Name,
		"no type User, and several structs look like the user model: %s", strings.Join(list, ", "))
}
