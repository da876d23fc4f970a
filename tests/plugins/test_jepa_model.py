"""The JEPA predictor and residual encoder."""

import torch

from jasper_plugins.encoders.residual_mlp import ResidualMLPEncoder, ResidualMLPEncoderConfig
from jasper_plugins.models.jepa import JEPAPredictor, JEPAPredictorConfig


def make(dim=16, **kw):
    enc = ResidualMLPEncoder(ResidualMLPEncoderConfig(hidden_dim=8), dim=dim)
    return JEPAPredictor(JEPAPredictorConfig(hidden_dim=8, **kw), dim=dim, encoder=enc, num_clusters=3)


def test_jepa__shapes_and_unit_norm():
    model = make()
    out = model(torch.randn(5, 16), torch.randn(5, 16))
    assert out.prediction.shape == (5, 16)
    assert torch.allclose(out.prediction.norm(dim=1), torch.ones(5), atol=1e-5)


def test_jepa__residual_form_starts_as_plain_question_retrieval():
    model = make().eval()
    q = torch.randn(4, 16)
    pred = model(q, torch.randn(4, 16)).prediction
    assert torch.allclose(pred, torch.nn.functional.normalize(q, dim=1), atol=1e-6)


def test_jepa__non_residual_and_unnormalised_variants():
    model = make(residual=False, normalize_output=False, steering_gate=False).eval()
    out = model(torch.randn(3, 16), torch.randn(3, 16)).prediction
    assert out.shape == (3, 16) and not torch.allclose(out.norm(dim=1), torch.ones(3))


def test_jepa__steering_changes_the_prediction_once_trained():
    model = make().eval()
    with torch.no_grad():
        model.steering_gate.weight.fill_(0.01)
    q = torch.randn(2, 16)
    assert not torch.allclose(model(q, torch.zeros(2, 16)).prediction, model(q, torch.randn(2, 16)).prediction)


def test_jepa__input_noise_only_in_training():
    from jasper_plugins.models.jepa import JEPAPredictor, JEPAPredictorConfig

    model = JEPAPredictor(JEPAPredictorConfig(hidden_dim=16, input_noise=0.5), dim=16, encoder=torch.nn.Identity())
    q, s = torch.randn(4, 16), torch.zeros(4, 16)
    model.eval()
    assert torch.equal(model(q, s).prediction, model(q, s).prediction)
    model.train()
    assert not torch.equal(model(q, s).prediction, model(q, s).prediction)
