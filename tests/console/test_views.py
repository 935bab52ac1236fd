"""The console's pure view functions."""

from adaptlab.console.views import render_card


def test_card_markdown_is_rendered_with_raw_html_and_script_links_neutralised():
    card = render_card("---\nlicense: other\nbase_model: tiny\n---\n# acme/bot@v1\n\n<script>alert(1)</script>\n\n"
                       "[click](javascript:alert(2))\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert card.metadata_yaml == "license: other\nbase_model: tiny"
    assert "<h1>acme/bot@v1</h1>" in card.body_html and "<table>" in card.body_html
    assert "<script>" not in card.body_html and "&lt;script&gt;" in card.body_html
    assert 'href="javascript:' not in card.body_html


def test_a_card_without_front_matter_is_all_body():
    card = render_card("# title\n---\nnot metadata\n")
    assert card.metadata_yaml == "" and "<h1>title</h1>" in card.body_html
