"""The documentation site builds with ``mkdocs build --strict`` and shows what it promises.

Every nav page exists, no link is broken, and mkdocstrings renders the API page from the
docstrings, with doctest examples as code. Headless Chromium then opens the built pages:
formulas are typeset by the vendored KaTeX and every picture (string diagrams drawn at build
time, the demo's figures) loads.
"""
from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the docs' build hooks live in mkdocs_hooks/, beside the package
from mkdocs_hooks.doctest_fences import fence_doctests  # noqa: E402

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def nav_pages() -> list[str]:
    import yaml
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    return [next(iter(entry.values())) for entry in config["nav"]]


def test_every_doc_page_is_in_the_nav():
    pytest.importorskip("yaml", reason="needs PyYAML (installed with mkdocs)")
    pages = nav_pages()
    assert sorted(pages) == sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert all((ROOT / "docs" / page).is_file() for page in pages)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("mkdocs", reason="needs mkdocs (pip install -e '.[docs]')")
    pytest.importorskip("mkdocstrings", reason="needs mkdocstrings[python] (pip install -e '.[docs]')")
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
                            cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.mark.slow
def test_site_builds_strictly(site):
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    assert "run_demo" in api and "nll_decomposition" in api


@pytest.mark.slow  # builds the site with mkdocs
def test_api_examples_render_as_code(site):
    """``>>>`` lines are code, not Markdown block quotes nested one level per ``>``."""
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    assert "<blockquote>" not in api
    assert api.count('<span class="gp">&gt;&gt;&gt; </span>') >= 10   # highlighted prompts


def test_doctest_fences_wrap_each_example_and_leave_prose():
    text = "Prose.\n\n>>> x = 1\n>>> x\n1\n\nMore prose.\n\n    >>> y\n    2"
    assert fence_doctests(text) == ("Prose.\n\n```pycon\n>>> x = 1\n>>> x\n1\n```\n\nMore prose.\n\n"
                                    "    ```pycon\n    >>> y\n    2\n    ```")
    fenced = "```python\n>>> already code\n```"
    assert fence_doctests(fenced) == fenced


@pytest.mark.slow  # builds the site with mkdocs
def test_diagrams_are_drawn_at_build_time(site):
    svgs = sorted(p.name for p in (site / "images" / "diagrams").glob("*.svg"))
    assert "coin-joint.svg" in svgs and "lm-gen.svg" in svgs
    joint = (site / "images" / "diagrams" / "coin-joint.svg").read_text(encoding="utf-8")
    assert "noisy" in joint and "flip" in joint          # labels stay text in the SVG


@pytest.fixture(scope="module")
def browser(site):
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install -e '.[dev]')")
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("needs Chromium and its driver (apt-get install chromium chromium-driver)")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1280,2000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.base = f"http://127.0.0.1:{server.server_address[1]}"
    yield driver
    driver.quit()
    server.shutdown()


def open_page(driver, page: str, ready: str):
    from selenium.webdriver.support.ui import WebDriverWait
    driver.get(f"{driver.base}/{page}/" if page else f"{driver.base}/")
    WebDriverWait(driver, 30).until(lambda d: d.execute_script(ready))
    return driver


@pytest.mark.slow  # builds the site with mkdocs
@pytest.mark.parametrize("page", ["finstoch", "decoding"])
def test_formulas_are_typeset(browser, page):
    """Every arithmatex span becomes KaTeX output, with no parse error left on the page."""
    driver = open_page(browser, page, "return document.querySelectorAll('.arithmatex .katex').length > 0")
    spans = driver.execute_script("return document.querySelectorAll('.arithmatex').length")
    typeset = driver.execute_script("return document.querySelectorAll('.arithmatex .katex').length")
    errors = driver.execute_script("return document.querySelectorAll('.katex-error').length")
    height = driver.execute_script("return document.querySelector('.arithmatex .katex').getBoundingClientRect().height")
    assert spans >= 3 and typeset == spans and errors == 0 and height > 0
    if os.environ.get("CATLM_SCREENSHOTS"):
        driver.save_screenshot(str(Path(os.environ["CATLM_SCREENSHOTS"]) / f"{page or 'index'}.png"))


@pytest.mark.slow  # builds the site with mkdocs
@pytest.mark.parametrize("page, least", [("drawing", 5), ("tutorial", 8), ("", 1)])
def test_figures_load(browser, page, least):
    """Each picture the page shows is fetched and decoded (a broken image has natural width 0)."""
    driver = open_page(browser, page, "return [...document.images].every(i => i.complete)")
    widths = driver.execute_script("return [...document.querySelectorAll('article img')].map(i => i.naturalWidth)")
    assert len(widths) >= least and all(w > 0 for w in widths), widths
    if os.environ.get("CATLM_SCREENSHOTS"):
        driver.save_screenshot(str(Path(os.environ["CATLM_SCREENSHOTS"]) / f"{page or 'index'}.png"))
