package generator

import "testing"

func TestUnderscore(t *testing.T) {
	for in, want := range map[string]string{
		"User":                  "user",
		"TeamMember":            "team_member",
		"MCPConnections":        "mcp_connections",
		"OAuthConnections":      "oauth_connections",
		"HTMLPage":              "html_page",
		"UserID":                "user_id",
		"Admin":                 "admin",
		"already_snake":         "already_snake",
		"ToolConnections":       "tool_connections",
		"APIKeyOAuthConnection": "api_key_oauth_connection",
	} {
		if got := underscore(in); got != want {
			t.Errorf("underscore(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCamelize(t *testing.T) {
	for in, want := range map[string]string{
		"user": "User", "team_member": "TeamMember", "team-member": "TeamMember",
		"TeamMember": "TeamMember", "admin": "Admin",
	} {
		if got := camelize(in); got != want {
			t.Errorf("camelize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPluralize(t *testing.T) {
	for in, want := range map[string]string{
		"user": "users", "account": "accounts", "member": "members",
		"team_member": "team_members", "person": "people", "sales_person": "sales_people",
		"company": "companies", "day": "days", "box": "boxes", "boss": "bosses",
		"church": "churches", "wolf": "wolves", "wife": "wives", "child": "children",
		"staff": "staff", "status": "statuses", "chief": "chiefs",
	} {
		if got := pluralize(in); got != want {
			t.Errorf("pluralize(%q) = %q, want %q", in, got, want)
		}
	}
}
