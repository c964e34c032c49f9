from engine.config import EngineConfig
from engine.packaged_models import PACKAGED_MODELS


def test_each_packaged_model_brings_its_own_neutral_thresholds() -> None:
    small = EngineConfig(model="qwen2.5-coder-0.5b-instruct")
    assert (
        small.neutral_threshold_for("en") == PACKAGED_MODELS[small.model].neutral_thresholds["en"]
    )
    assert small.neutral_threshold_for("zh") == 0.55
    default = EngineConfig()
    assert (default.neutral_threshold_for("en"), default.neutral_threshold_for("zh")) == (0.9, 0.51)


def test_configured_thresholds_win_and_other_models_use_the_default_models() -> None:
    config = EngineConfig(model="qwen2.5-coder-0.5b-instruct", neutral_threshold=0.6)
    assert config.neutral_threshold_for("en") == 0.6
    assert config.neutral_threshold_for("zh") == 0.55
    hub = EngineConfig(model="Qwen/Qwen2.5-1.5B-Instruct", neutral_threshold_zh=0.7)
    assert (hub.neutral_threshold_for("en"), hub.neutral_threshold_for("zh")) == (0.9, 0.7)
