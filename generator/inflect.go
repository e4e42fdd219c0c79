package generator

import (
	"strings"
	"unicode"
)

// acronyms are written as one word when a Go name is split into snake_case,
// so OAuthConnections becomes oauth_connections and not o_auth_connections.
var acronyms = []string{"OAuth", "MCP", "HTTP", "API", "URL", "ID", "UUID", "JSON", "SQL"}

// underscore turns a Go identifier into snake_case ("TeamMember" ->
// "team_member", "MCPConnections" -> "mcp_connections").
func underscore(s string) string {
	var words []string
	rs := []rune(s)
	for i := 0; i < len(rs); {
		if w := acronymAt(rs, i); w != "" {
			words = append(words, strings.ToLower(w))
			i += len([]rune(w))
			continue
		}
		j := i + 1
		if unicode.IsUpper(rs[i]) {
			// A run of capitals is one word, except its last letter when a
			// lower-case letter follows ("HTMLPage" -> "html", "page").
			for j < len(rs) && unicode.IsUpper(rs[j]) && !(j+1 < len(rs) && unicode.IsLower(rs[j+1])) {
				j++
			}
		}
		for j < len(rs) && !unicode.IsUpper(rs[j]) && rs[j] != '_' {
			j++
		}
		if w := strings.Trim(string(rs[i:j]), "_"); w != "" {
			words = append(words, strings.ToLower(w))
		}
		i = j
		for i < len(rs) && rs[i] == '_' {
			i++
		}
	}
	return strings.Join(words, "_")
}

// acronymAt returns the acronym starting at rs[i] when it stands as a whole
// word there: followed by the end, an underscore or an upper-case letter.
func acronymAt(rs []rune, i int) string {
	for _, a := range acronyms {
		ar := []rune(a)
		if i+len(ar) > len(rs) || string(rs[i:i+len(ar)]) != a {
			continue
		}
		end := i + len(ar)
		if end == len(rs) || rs[end] == '_' || unicode.IsUpper(rs[end]) {
			return a
		}
	}
	return ""
}

// camelize turns "team_member", "team-member" or "teamMember" into
// "TeamMember". Existing capitals are kept.
func camelize(s string) string {
	var b strings.Builder
	upper := true
	for _, r := range s {
		if r == '_' || r == '-' {
			upper = true
			continue
		}
		if upper {
			b.WriteRune(unicode.ToUpper(r))
			upper = false
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// irregular plurals, by singular. Words are lower-case snake_case parts.
var irregular = map[string]string{
	"person": "people", "man": "men", "woman": "women", "child": "children",
	"mouse": "mice", "goose": "geese", "foot": "feet", "tooth": "teeth",
	"ox": "oxen", "datum": "data", "medium": "media", "index": "indices",
	"matrix": "matrices", "vertex": "vertices", "quiz": "quizzes",
	"status": "statuses", "alias": "aliases", "criterion": "criteria",
}

// uncountable words have no separate plural.
var uncountable = map[string]bool{
	"equipment": true, "information": true, "rice": true, "money": true,
	"species": true, "series": true, "fish": true, "sheep": true,
	"news": true, "staff": true, "metadata": true,
}

// pluralize returns the plural of a snake_case name, inflecting its last
// word only ("team_member" -> "team_members", "person" -> "people").
func pluralize(snake string) string {
	head, last := "", snake
	if i := strings.LastIndexByte(snake, '_'); i >= 0 {
		head, last = snake[:i+1], snake[i+1:]
	}
	return head + pluralWord(last)
}

func pluralWord(w string) string {
	if uncountable[w] {
		return w
	}
	if p, ok := irregular[w]; ok {
		return p
	}
	switch {
	case strings.HasSuffix(w, "s"), strings.HasSuffix(w, "x"), strings.HasSuffix(w, "z"),
		strings.HasSuffix(w, "ch"), strings.HasSuffix(w, "sh"):
		return w + "es"
	case strings.HasSuffix(w, "y") && len(w) > 1 && !strings.ContainsRune("aeiou", rune(w[len(w)-2])):
		return w[:len(w)-1] + "ies"
	case strings.HasSuffix(w, "fe"):
		return w[:len(w)-2] + "ves"
	case strings.HasSuffix(w, "f") && !strings.HasSuffix(w, "ff") && !strings.HasSuffix(w, "ef"):
		return w[:len(w)-1] + "ves"
	}
	return w + "s"
}
