"""Records and configs that several layers share (run.json, the train config). They import only `errors`
and `data.options`, so data/, methods/, train/, compare/, adapters/ and registry/ may all import them."""
