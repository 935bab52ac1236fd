"""`adaptlab demo`'s code path end to end, offline, on builtin:tiny with a tiny budget."""

from rich.console import Console

from adaptlab.compare.demo import run_demo
from adaptlab.compare.schema import read_comparison
from adaptlab.registry import Registry


def test_demo_writes_the_three_reports_with_full_lora_and_qlora_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "demo"
    console = Console(record=True, width=400)
    run_demo(out, console, model="builtin:tiny", max_steps=2, max_seq_len=256, metric_examples=4, max_new_tokens=4)
    for name in ("report.md", "report.html", "report.json"):
        assert (out / name).stat().st_size > 0
    assert [result.method for result in read_comparison(out).methods] == ["full", "lora", "qlora"]
    markdown = (out / "report.md").read_text()
    for label in ("Full FT", "LoRA", "QLoRA"):
        assert f"| {label} |" in markdown
    opening = markdown[: markdown.index("## Results")]
    assert "## Recommendation:" in opening and "20 tenants served from one deployment" in opening
    assert all(r.versus_full is not None for r in read_comparison(out).methods if r.method != "full")

    # It ends with the command that opens the console on a registry holding the adapters, each with the report attached.
    printed = console.export_text()
    assert printed.strip().splitlines()[-1].strip() == f"adaptlab ui --registry {out / 'registry'}"
    with Registry.open(out / "registry") as registry:
        principal = registry.authenticate(printed.split("sign in with the token ")[1].split()[0])
        versions = registry.list_versions(principal, "house-style")
        assert [v.method for v in versions] == ["lora", "qlora"]
        attached = registry.reports(principal, versions[0].ref)
        assert [f.path for f in attached[0].files] == ["report.html", "report.json", "report.md"]
