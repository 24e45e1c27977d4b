// Package expr parses and evaluates DynamoDB expressions: condition and
// filter expressions, key conditions, update expressions and projections,
// with ExpressionAttributeNames (#n) and ExpressionAttributeValues (:v).
package expr

import (
	"fmt"
	"strings"
	"unicode"
)

// maxLength bounds an expression, as DynamoDB does (4 KB).
const maxLength = 4096

type tokKind int

const (
	tEOF    tokKind = iota
	tIdent          // attribute name or keyword
	tName           // #placeholder
	tValue          // :placeholder
	tNumber         // list index inside [ ]
	tPunct          // ( ) , . [ ] = <> < <= > >= + -
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func lex(src string) ([]token, error) {
	if len(src) > maxLength {
		return nil, fmt.Errorf("Expression size has exceeded the maximum allowed size; limit: %d", maxLength)
	}
	var toks []token
	i := 0
	for i < len(src) {
		c := rune(src[i])
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '#' || c == ':':
			j := i + 1
			for j < len(src) && isIdent(rune(src[j])) {
				j++
			}
			if j == i+1 {
				return nil, syntaxError(src, i, string(c))
			}
			k := tName
			if c == ':' {
				k = tValue
			}
			toks = append(toks, token{k, src[i:j], i})
			i = j
		case c >= '0' && c <= '9':
			j := i
			for j < len(src) && src[j] >= '0' && src[j] <= '9' {
				j++
			}
			toks = append(toks, token{tNumber, src[i:j], i})
			i = j
		case isIdent(c):
			j := i
			for j < len(src) && isIdent(rune(src[j])) {
				j++
			}
			toks = append(toks, token{tIdent, src[i:j], i})
			i = j
		case strings.HasPrefix(src[i:], "<>") || strings.HasPrefix(src[i:], "<=") || strings.HasPrefix(src[i:], ">="):
			toks = append(toks, token{tPunct, src[i : i+2], i})
			i += 2
		case strings.ContainsRune("(),.[]=<>+-", c):
			toks = append(toks, token{tPunct, string(c), i})
			i++
		default:
			return nil, syntaxError(src, i, string(c))
		}
	}
	return append(toks, token{tEOF, "<EOF>", len(src)}), nil
}

func isIdent(c rune) bool {
	return c == '_' || c < unicode.MaxASCII && (unicode.IsLetter(c) || unicode.IsDigit(c))
}

func syntaxError(src string, pos int, tok string) error {
	near := src[pos:]
	if len(near) > 20 {
		near = near[:20]
	}
	return fmt.Errorf("Syntax error; token: \"%s\", near: \"%s\"", tok, near)
}
