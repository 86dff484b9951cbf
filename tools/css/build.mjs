// `make css`: Bootstrap's stylesheet cut down by PurgeCSS to the selectors the templates and the
// shop's scripts use, written to static/; `--check` fails instead when the file there differs
// (CI runs it, so the stylesheet cannot drift from the templates). Run from the repository root.
import { readFile, writeFile } from "node:fs/promises";
import { PurgeCSS } from "purgecss";

const BOOTSTRAP = "tools/css/node_modules/bootstrap/dist/css/bootstrap.min.css";
const OUTPUT = "static/vendor/bootstrap/bootstrap.subset.min.css";
// Every class Bootstrap defines, for the test that catches a template using one the subset lacks.
const CLASSES = "tools/css/bootstrap-classes.txt";

const [subset] = await new PurgeCSS().purge({
  css: [BOOTSTRAP],
  // Not templates/mail/: emails carry their own inline styles and never load the stylesheet.
  content: ["templates/**/*.html", "templates/**/*.svg", "static/js/**/*.js"],
  skippedContentGlobs: ["templates/mail/**"],
  // Also drop the custom properties, keyframes and font faces nothing left refers to.
  variables: true,
  keyframes: true,
  fontFace: true,
});
const full = await readFile(BOOTSTRAP, "utf8");
const selectors = full.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\{[^{}]*\}/g, "\n");
const classes = [...new Set([...selectors.matchAll(/\.(-?[A-Za-z_][\w-]*)/g)].map((m) => m[1]))];
const outputs = {
  [OUTPUT]: subset.css.trimEnd() + "\n",
  [CLASSES]: classes.sort().join("\n") + "\n",
};

if (process.argv.includes("--check")) {
  const stale = [];
  for (const [path, text] of Object.entries(outputs)) {
    const current = await readFile(path, "utf8").catch(() => "");
    if (current !== text) stale.push(path);
  }
  if (stale.length) {
    console.error(`${stale.join(", ")}: out of date with the templates. Run \`make css\` and commit.`);
    process.exit(1);
  }
  console.log("css: the Bootstrap subset matches the templates.");
} else {
  for (const [path, text] of Object.entries(outputs)) await writeFile(path, text);
  console.log(`css: wrote ${OUTPUT} (${outputs[OUTPUT].length} bytes) and ${CLASSES}.`);
}
