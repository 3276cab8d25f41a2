// Package check holds the test of the Kubernetes manifests in deploy/: each
// document decodes strictly into the Kubernetes API types, and agrees with
// the gateway's own source (its variables, defaults, routes, drain and
// image). It is a module of its own, so that the Kubernetes API types stay
// out of the gateway's go.mod. Run it with: cd deploy/check && go test ./...
package check

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Manifest is one document of a manifest file, decoded.
type Manifest struct {
	File   string
	Object runtime.Object
}

// ReadFiles reads the .yaml files of each directory (not of its
// subdirectories), keyed by path.
func ReadFiles(dirs ...string) (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, dir := range dirs {
		paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil {
			return nil, err
		}
		for _, path := range paths {
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			files[path] = data
		}
	}
	return files, nil
}

// Decode decodes every document of every file as the API server would,
// and strictly: an unknown or duplicate field, or a kind the API types do
// not know, is an error.
func Decode(files map[string][]byte) ([]Manifest, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme, networkingv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	var out []Manifest
	var errs []error
	for file, data := range files {
		docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for i := 1; ; i++ {
			doc, err := docs.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			if blank(doc) {
				continue
			}
			obj, _, err := decoder.Decode(doc, nil, nil)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s, document %d: %w", file, i, err))
				continue
			}
			out = append(out, Manifest{File: file, Object: obj})
		}
	}
	return out, errors.Join(errs...)
}

// blank is a document of comments and space only.
func blank(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && line != "---" && !strings.HasPrefix(line, "#") {
			return false
		}
	}
	return true
}
