"""Records and configs that several layers share (run.json, adaptlab_adapter.json, the train config). They
import only `errors`, `atomic`, `stats.intervals` and `data.options`, so every layer from data/ up may import them."""
