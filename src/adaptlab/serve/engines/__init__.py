"""The data plane behind the gateway: engines that load adapters and generate tokens (`serve --engine`)."""

from adaptlab.serve.engines.base import Engine
from adaptlab.serve.engines.builtin import BuiltinEngine
from adaptlab.serve.engines.ray_serve import RayServeEngine
from adaptlab.serve.engines.vllm_server import VllmEngine

ENGINES: dict[str, type[Engine]] = {"builtin": BuiltinEngine, "ray": RayServeEngine, "vllm": VllmEngine}


def get_engine_class(name: str) -> type[Engine]:
    return ENGINES[name]
