package generator

import (
	"path"

	"github.com/dave/jennifer/jen"
)

// userHelpersFile renders the methods on the user model: the Go
// counterpart of the Rails UserMcpOauth concern.
func userHelpersFile(n Names, _ sqlDialect) (*jen.File, error) {
	f := dataLayerJenFile(n, userModelImport(n), n.UserModelPkg)
	pkg := n.PackageImport
	ctx := jen.Id("ctx").Qual("context", "Context")
	store := jen.Id("store").Op("*").Qual(pkg, "Store")
	recv := jen.Id("u").Op("*").Id(n.UserModel)
	uid := jen.Qual(pkg, "UserID").Call(jen.Id("u").Dot(n.UserIDField))

	f.Add(docComment(
		"MCPConnected reports whether u has connected to the MCP server at serverURL,",
		"including a connection that must reconnect (Credential.ReauthRequiredAt)."))
	f.Func().Params(recv.Clone()).Id("MCPConnected").Params(ctx.Clone(), store.Clone(), jen.Id("serverURL").String()).Params(jen.Bool(), jen.Error()).Block(
		jen.Return(jen.Id("store").Dot("HasCredential").Call(jen.Id("ctx"), uid.Clone(), jen.Id("serverURL"))),
	)
	f.Line()
	f.Add(docComment(
		"MCPTokenStorage returns the storage of u's token for the MCP server at",
		"serverURL, for an MCP client acting as u (in a background job, say)."))
	f.Func().Params(recv.Clone()).Id("MCPTokenStorage").Params(store.Clone(), jen.Id("serverURL").String()).Op("*").Qual(pkg, "TokenStorage").Block(
		jen.Return(jen.Id("store").Dot("TokenStorage").Call(uid.Clone(), jen.Id("serverURL"))),
	)
	f.Line()
	f.Add(docComment("MCPCredentials returns u's MCP server connections, ordered by server URL."))
	f.Func().Params(recv.Clone()).Id("MCPCredentials").Params(ctx.Clone(), store.Clone()).Params(jen.Index().Op("*").Qual(pkg, "Credential"), jen.Error()).Block(
		jen.Return(jen.Id("store").Dot("ListCredentials").Call(jen.Id("ctx"), uid.Clone())),
	)
	return f, nil
}

// userModelImport is the import path of the user model's package, where
// the helpers are written.
func userModelImport(n Names) string {
	if dir := path.Dir(n.UserHelpers); dir != "." {
		return n.Module + "/" + dir
	}
	return n.Module
}

// userHelpersTestFile renders the tests of the user helpers, on the
// runtime's in-memory store.
func userHelpersTestFile(n Names, _ sqlDialect) (*jen.File, error) {
	f := dataLayerJenFile(n, userModelImport(n), n.UserModelPkg)
	pkg := n.PackageImport
	ctx := jen.Id("ctx")
	var idValue, otherValue jen.Code
	switch n.UserIDType {
	case IDString:
		idValue, otherValue = jen.Lit("user-42"), jen.Lit("user-43")
	case IDUUID:
		idValue, otherValue = jen.Qual(n.UserIDImport, "New").Call(), jen.Qual(n.UserIDImport, "New").Call()
	default:
		idValue, otherValue = jen.Lit(42), jen.Lit(43)
	}
	const server = "https://mcp.example.com/mcp"
	newUser := func(v jen.Code) jen.Code {
		return jen.Op("&").Id(n.UserModel).Values(jen.Dict{jen.Id(n.UserIDField): v})
	}
	uid := jen.Qual(pkg, "UserID").Call(jen.Id("u").Dot(n.UserIDField))
	errFatal := jen.If(jen.Err().Op("!=").Nil()).Block(jen.Id("t").Dot("Fatal").Call(jen.Err()))

	f.Func().Id("Test"+n.UserModel+"MCPHelpers").Params(jen.Id("t").Op("*").Qual("testing", "T")).Block(
		ctx.Clone().Op(":=").Qual("context", "Background").Call(),
		jen.List(jen.Id("keys"), jen.Err()).Op(":=").Qual(pkg, "NewKeyring").Call(jen.Make(jen.Index().Byte(), jen.Qual(pkg, "KeySize"))),
		errFatal,
		jen.Id("store").Op(":=").Qual(pkg, "NewMemoryStore").Call(jen.Id("keys")),
		jen.List(jen.Id("u"), jen.Id("other")).Op(":=").List(newUser(idValue), newUser(otherValue)),
		jen.Const().Id("server").Op("=").Lit(server),
		jen.Err().Op("=").Id("store").Dot("SaveCredential").Call(ctx.Clone(), jen.Op("&").Qual(pkg, "Credential").Values(jen.Dict{
			jen.Id("UserID"):    uid.Clone(),
			jen.Id("ServerURL"): jen.Id("server"),
			jen.Id("Token"):     jen.Qual(pkg, "Token").Values(jen.Dict{jen.Id("AccessToken"): jen.Lit("at")}),
		})),
		errFatal,
		jen.For(jen.List(jen.Id("_"), jen.Id("tc")).Op(":=").Range().Index().Struct(
			jen.Id("user").Op("*").Id(n.UserModel),
			jen.Id("server").String(),
			jen.Id("want").Bool(),
		).Values(
			jen.Values(jen.Id("u"), jen.Id("server"), jen.True()),
			jen.Values(jen.Id("u"), jen.Lit("https://other.example.com/mcp"), jen.False()),
			jen.Values(jen.Id("other"), jen.Id("server"), jen.False()),
		)).Block(
			jen.If(jen.List(jen.Id("got"), jen.Err()).Op(":=").Id("tc").Dot("user").Dot("MCPConnected").Call(ctx.Clone(), jen.Id("store"), jen.Id("tc").Dot("server")),
				jen.Err().Op("!=").Nil().Op("||").Id("got").Op("!=").Id("tc").Dot("want")).Block(
				jen.Id("t").Dot("Errorf").Call(jen.Lit("MCPConnected(%v, %q) = %v, %v; want %v"),
					jen.Id("tc").Dot("user").Dot(n.UserIDField), jen.Id("tc").Dot("server"), jen.Id("got"), jen.Err(), jen.Id("tc").Dot("want")),
			),
		),
		jen.If(jen.List(jen.Id("creds"), jen.Err()).Op(":=").Id("u").Dot("MCPCredentials").Call(ctx.Clone(), jen.Id("store")),
			jen.Err().Op("!=").Nil().Op("||").Len(jen.Id("creds")).Op("!=").Lit(1).Op("||").Id("creds").Index(jen.Lit(0)).Dot("ServerURL").Op("!=").Id("server")).Block(
			jen.Id("t").Dot("Errorf").Call(jen.Lit("MCPCredentials = %v, %v; want the one credential for %s"), jen.Id("creds"), jen.Err(), jen.Id("server")),
		),
		jen.If(jen.List(jen.Id("tok"), jen.Err()).Op(":=").Id("u").Dot("MCPTokenStorage").Call(jen.Id("store"), jen.Id("server")).Dot("Load").Call(ctx.Clone()),
			jen.Err().Op("!=").Nil().Op("||").Id("tok").Dot("AccessToken").Op("!=").Lit("at")).Block(
			jen.Id("t").Dot("Errorf").Call(jen.Lit("MCPTokenStorage(%s).Load = %v, %v; want the saved token"), jen.Id("server"), jen.Id("tok"), jen.Err()),
		),
	)
	return f, nil
}
