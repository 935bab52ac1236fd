"""The adapter lifecycle: inspect, merge, combine, stack and generate, with compatibility checks that fail loudly.

Entry points: `loading.load_base_with_adapters` (shared with serving), `inspection.inspect_adapter`,
`merge.merge_adapter`, `combine.combine_adapters`, `generate.generate_text`. See docs/adapters.md.
"""
