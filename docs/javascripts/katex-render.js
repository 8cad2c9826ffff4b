// Typeset the formulas that pymdownx.arithmatex (generic mode) leaves as \( \) and \[ \] spans.
// KaTeX is vendored under javascripts/katex, so the site renders mathematics offline.
document$.subscribe(({ body }) => {
  renderMathInElement(body, {
    delimiters: [
      { left: "\\(", right: "\\)", display: false },
      { left: "\\[", right: "\\]", display: true },
    ],
    throwOnError: false,
  });
});
