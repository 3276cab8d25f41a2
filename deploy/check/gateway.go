package check

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Gateway is what the gateway's own source says about deploying it: read
// from the files, since this module cannot import the gateway's internal
// packages, and so that the gateway's go.mod does not grow.
type Gateway struct {
	// Variables is every environment variable the gateway reads: the
	// names config.Load passes to getenv (through its parser), those
	// server.go reads, and those of the Go runtime the README names.
	Variables map[string]bool
	// Secrets are the variables whose values are secrets: read as a key,
	// as tokens or as a Redis URL (which may hold a password), or named
	// *_SECRET.
	Secrets map[string]bool
	// Defaults is a variable's default as config.go writes it: ":8080",
	// a duration such as "5s", a number.
	Defaults map[string]string
	// Routes are the patterns the HTTP handler serves: "GET /healthz".
	Routes map[string]bool
	// WriteGrace is how long the last answers get to be written after
	// REQUEST_TIMEOUT, when the gateway drains (answerWriteGrace).
	WriteGrace time.Duration
	// ImagePort is the Dockerfile's EXPOSE; ImageUser its USER's uid.
	ImagePort string
	ImageUser int64
}

// ReadGateway reads the gateway's source under root (the repository).
func ReadGateway(root string) (Gateway, error) {
	gw := Gateway{
		Variables: map[string]bool{},
		Secrets:   map[string]bool{},
		Defaults:  map[string]string{},
		Routes:    map[string]bool{},
	}
	// Read by the Go runtime; the README's Configuration names them.
	for _, name := range []string{"GOGC", "GOMEMLIMIT", "GOMAXPROCS"} {
		gw.Variables[name] = true
	}
	// config.go's parser methods for values it never prints.
	secretReaders := map[string]bool{"secret": true, "tokens": true, "redisURL": true}
	variableName := regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	fset := token.NewFileSet()
	configGo, err := parser.ParseFile(fset, filepath.Join(root, "internal", "config", "config.go"), nil, 0)
	if err != nil {
		return gw, err
	}
	ast.Inspect(configGo, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		name, ok := stringLit(call.Args[0])
		if !ok || !variableName.MatchString(name) {
			return true
		}
		gw.Variables[name] = true
		method := ""
		if sel, ok := call.Fun.(*ast.SelectorExpr); ok {
			method = sel.Sel.Name
		}
		if secretReaders[method] || strings.HasSuffix(name, "_SECRET") {
			gw.Secrets[name] = true
		}
		if method != "fail" && len(call.Args) > 1 {
			if def, ok := defaultValue(call.Args[1]); ok {
				gw.Defaults[name] = def
			}
		}
		return true
	})

	serverGo, err := parser.ParseFile(fset, filepath.Join(root, "server.go"), nil, 0)
	if err != nil {
		return gw, err
	}
	ast.Inspect(serverGo, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			if fn, ok := n.Fun.(*ast.Ident); ok && fn.Name == "getenv" && len(n.Args) == 1 {
				if name, ok := stringLit(n.Args[0]); ok {
					gw.Variables[name] = true
				}
			}
		case *ast.ValueSpec:
			for i, id := range n.Names {
				if id.Name == "answerWriteGrace" && i < len(n.Values) {
					gw.WriteGrace, _, _ = duration(n.Values[i])
				}
			}
		}
		return true
	})

	handlers, err := filepath.Glob(filepath.Join(root, "internal", "httpserver", "*.go"))
	if err != nil {
		return gw, err
	}
	for _, file := range handlers {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			return gw, err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && (sel.Sel.Name == "HandleFunc" || sel.Sel.Name == "Handle") {
				if pattern, ok := stringLit(call.Args[0]); ok {
					gw.Routes[pattern] = true
				}
			}
			return true
		})
	}

	if err := readDockerfile(filepath.Join(root, "Dockerfile"), &gw); err != nil {
		return gw, err
	}
	// What the checks rely on: a change to the source that hides it must
	// fail here, not make the checks pass for want of facts.
	var missing []string
	for _, name := range []string{"ADDR", "METRICS_ADDR", "SHUTDOWN_DELAY", "REQUEST_TIMEOUT"} {
		if _, ok := gw.Defaults[name]; !ok {
			missing = append(missing, "the default of "+name)
		}
	}
	if !gw.Secrets["BOTPENGUIN_API_KEY"] {
		missing = append(missing, "BOTPENGUIN_API_KEY as a secret")
	}
	if gw.WriteGrace <= 0 {
		missing = append(missing, "answerWriteGrace in server.go")
	}
	if !gw.Routes["GET /healthz"] || !gw.Routes["GET /readyz"] {
		missing = append(missing, "the routes GET /healthz and GET /readyz in internal/httpserver")
	}
	if len(missing) > 0 {
		return gw, fmt.Errorf("could not read from the gateway's source: %s", strings.Join(missing, "; "))
	}
	return gw, nil
}

// readDockerfile reads the image's EXPOSE and USER.
func readDockerfile(path string, gw *Gateway) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "EXPOSE":
			gw.ImagePort = strings.TrimSuffix(fields[1], "/tcp")
		case "USER":
			uid, _, _ := strings.Cut(fields[1], ":")
			if gw.ImageUser, err = strconv.ParseInt(uid, 10, 64); err != nil {
				return fmt.Errorf("%s: USER %s: the image's user must be numeric", path, fields[1])
			}
		}
	}
	if gw.ImagePort == "" || gw.ImageUser == 0 {
		return fmt.Errorf("%s: no EXPOSE, or no USER other than root", path)
	}
	return sc.Err()
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// defaultValue is a default as written: a string, a number, or a duration
// such as 5*time.Second (as "5s").
func defaultValue(e ast.Expr) (string, bool) {
	if s, ok := stringLit(e); ok {
		return s, true
	}
	if d, unit, ok := duration(e); ok {
		if unit {
			return d.String(), true
		}
		return strconv.FormatInt(int64(d), 10), true
	}
	return "", false
}

// duration evaluates products of integers and time units; unit tells
// whether there was a unit (a bare 0 is both a number and a duration).
func duration(e ast.Expr) (d time.Duration, unit, ok bool) {
	switch e := e.(type) {
	case *ast.ParenExpr:
		return duration(e.X)
	case *ast.BasicLit:
		if e.Kind != token.INT {
			return 0, false, false
		}
		n, err := strconv.ParseInt(e.Value, 0, 64)
		return time.Duration(n), false, err == nil
	case *ast.SelectorExpr:
		units := map[string]time.Duration{
			"Nanosecond": time.Nanosecond, "Microsecond": time.Microsecond, "Millisecond": time.Millisecond,
			"Second": time.Second, "Minute": time.Minute, "Hour": time.Hour,
		}
		pkg, isIdent := e.X.(*ast.Ident)
		u, known := units[e.Sel.Name]
		return u, true, isIdent && pkg.Name == "time" && known
	case *ast.BinaryExpr:
		if e.Op != token.MUL {
			return 0, false, false
		}
		x, ux, okx := duration(e.X)
		y, uy, oky := duration(e.Y)
		return x * y, ux || uy, okx && oky
	}
	return 0, false, false
}
