package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestFatalErrorReportedOnce: the reason the server stops appears once on
// stderr, whether it is logged (a log level that keeps errors) or printed
// (log_level = "off").
func TestFatalErrorReportedOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	for _, level := range []string{"debug", "error", "off"} {
		cfg := strings.Replace(fmt.Sprintf(configTemplate, port, "http://127.0.0.1:1/", 1),
			`log_level = "debug"`, fmt.Sprintf("log_level = %q", level), 1)
		code, _, stderr := runBinary(t, "-c", writeFile(t, "config.cfg", cfg), "--data-dir", t.TempDir())
		if n := strings.Count(stderr, "address already in use"); code != 3 || n != 1 {
			t.Errorf("log_level %s: exit %d, the bind error %d times on stderr, want exit 3 and once:\n%s", level, code, n, stderr)
		}
	}
}

// logMethods are the slog.Logger methods (and the package functions of the
// same names) whose arguments are key/value pairs.
var logMethods = map[string]bool{
	"Debug": true, "Info": true, "Warn": true, "Error": true, "Log": true, "LogAttrs": true, "With": true,
	"DebugContext": true, "InfoContext": true, "WarnContext": true, "ErrorContext": true,
}

// TestNoErrKeyInLogCalls: every log record names its error "error"; no
// log call anywhere in the module passes the key "err" (nor builds an
// attribute of that name).
func TestNoErrKeyInLogCalls(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	fset := token.NewFileSet()
	files := 0
	var found []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			args := call.Args
			if !logMethods[sel.Sel.Name] {
				// slog.Any("err", …), slog.String("err", …), …: the key is first.
				if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "slog" || len(args) == 0 {
					return true
				}
				args = args[:1]
			}
			for _, a := range args {
				if lit, ok := a.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if v, err := strconv.Unquote(lit.Value); err == nil && v == "err" {
						rel, _ := filepath.Rel(root, fset.Position(lit.Pos()).Filename)
						found = append(found, fmt.Sprintf("%s:%d", rel, fset.Position(lit.Pos()).Line))
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("scanned %d Go files; the walk missed the module", files)
	}
	if len(found) > 0 {
		t.Fatalf(`log calls with the key "err" (use "error"):`+"\n%s", strings.Join(found, "\n"))
	}
}
