#!/bin/sh
# Rebuilds ../assets/vendor/ from the versions pinned in package.json and
# package-lock.json. The output is committed, so building the gateway needs no
# npm; run this only to change GraphiQL or React, then commit assets/vendor/.
#
# The packages' prebuilt UMD files are copied as they are, minus their
# sourceMappingURL comments (the maps are not shipped, and a browser's
# developer tools would otherwise ask for them and get a 404).
set -eu
cd "$(dirname "$0")"

npm ci --ignore-scripts --no-audit --no-fund

out=../assets/vendor
rm -rf "$out"
mkdir -p "$out"

copy() {
	sed -e '/^\/\/# sourceMappingURL=/d' -e 's#/\*\# sourceMappingURL=[^*]*\*/##' "node_modules/$1" >"$out/$2"
}
copy react/umd/react.production.min.js react.production.min.js
copy react-dom/umd/react-dom.production.min.js react-dom.production.min.js
copy graphiql/graphiql.min.js graphiql.min.js
copy graphiql/graphiql.min.css graphiql.min.css

for p in graphiql react react-dom; do
	cp "node_modules/$p/LICENSE" "$out/$p.LICENSE"
done

# One line per copied package, read from what npm actually installed.
node -e '
for (const p of ["graphiql", "react", "react-dom"]) {
  console.log(p + " " + require("./node_modules/" + p + "/package.json").version);
}' >"$out/VERSIONS"

echo "wrote internal/graphiql/assets/vendor/"
