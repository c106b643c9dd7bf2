"""Transfer-learning strategies — the four classic cases and more — and the strategy advisor.

================  =====================================================================================
strategy          what it does
================  =====================================================================================
``as_is``         the ImageNet classifier unchanged (inspection only: which ImageNet classes do tiles look like)
``features_linear`` embeddings computed once (cached), then logistic regression or a linear SVM (scikit-learn)
``frozen_head``   small data, similar domain: backbone frozen and called with ``training=False``, new head
``truncated``     small data, different domain: keep only the early stages (generic edges/textures), frozen
``fine_tune_top`` head first, then the top K stages unfrozen (BatchNorm stays frozen) at a lower learning rate
``fine_tune_all`` large data: head first, then every pretrained layer at a lower learning rate
``scratch``       same architecture, random initialisation — the baseline transfer learning must beat
``chip_stats``    no network: gradient boosting on per-band chip statistics (:mod:`tlgeo.chip_stats`)
================  =====================================================================================

Models take RGB 0–255 and output one softmax per target (a dict keyed by target name). Frozen-feature strategies
train their head on pooled features computed once (identical to training the full model with a frozen backbone,
without augmentation, and about 100× cheaper on a CPU); the saved model is always the full image → classes model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tlgeo.config import STRATEGIES
from tlgeo.errors import ConfigError

if TYPE_CHECKING:
    import keras

    from tlgeo.backbones import BackboneInfo

#: One-line descriptions, for tables and the UI.
STRATEGY_DESCRIPTIONS = {
    "as_is": "ImageNet classifier unchanged — inspection only (which ImageNet classes your tiles resemble).",
    "features_linear": "Embeddings once, then logistic regression / linear SVM. Fastest; no network training.",
    "frozen_head": "Frozen ImageNet backbone, new classifier head. Small data, imagery similar to ImageNet.",
    "truncated": "Only the early (generic) stages, frozen, new head. Small data, imagery unlike ImageNet.",
    "fine_tune_top": "Head first, then the top K stages fine-tuned at a lower learning rate.",
    "fine_tune_all": "Head first, then all pretrained layers fine-tuned at a lower learning rate. Larger data.",
    "scratch": "Same network, random initialisation, all layers trained. The baseline to beat.",
    "chip_stats": "No network: gradient boosting on per-band chip statistics (and NDVI/NDWI). The non-deep baseline.",
}
#: Strategies whose backbone never trains (their features can be computed once and cached).
FROZEN = ("features_linear", "frozen_head", "truncated")
#: Strategies that train (usable by ``tlgeo train`` / ``compare``).
TRAINABLE = tuple(s for s in STRATEGIES if s != "as_is")
#: Below this many images per class a dataset counts as small (the rule of thumb in the transfer-learning notes).
SMALL_PER_CLASS = 1000


def check_strategy(name: str) -> str:
    """Validate a strategy name for training.

    Raises:
        ConfigError: Unknown strategy, or ``as_is`` (which has nothing to train).
    """
    if name == "as_is":
        raise ConfigError(
            "Strategy 'as_is' uses the ImageNet classifier unchanged and has nothing to train",
            hint="Use `tlgeo imagenet IMAGE…` to inspect ImageNet classes, or pick a trainable strategy: "
            + ", ".join(TRAINABLE)
            + ".",
        )
    if name not in TRAINABLE:
        raise ConfigError(f"Unknown strategy {name!r}", hint=f"Use one of: {', '.join(TRAINABLE)}, or auto.")
    return name


def default_truncate_stage(info: BackboneInfo) -> str:
    """The stage ``truncated`` keeps up to by default: the end of the lower half of the network."""
    return info.stages[max(0, len(info.stages) // 2 - 1)]


# ----------------------------------------------------------------------------------------------- models
@dataclass
class TransferModel:
    """The pieces of one classifier.

    Attributes:
        model: Full model, image (0–255) → ``{target: probabilities}``.
        backbone: The (possibly truncated) feature extractor inside ``model``.
        features: Image → pooled features (shares layers with ``model``).
        head: Pooled features → ``{target: probabilities}`` (shares layers with ``model``).
        info: Registry entry of the backbone.
        pretrained: Whether the backbone started from pretrained weights.
    """

    model: keras.Model
    backbone: keras.Model
    features: keras.Model
    head: keras.Model
    info: BackboneInfo
    pretrained: bool


def build_head(feature_dim: int, targets: Mapping[str, list[str]], dropout: float, seed: int = 0) -> keras.Model:
    """Dropout + one softmax Dense per target (float32 outputs, so mixed precision stays stable).

    A target with an empty class list is continuous: one linear unit (regression).
    """
    import keras

    inputs = keras.Input(shape=(feature_dim,), name="features")
    x = keras.layers.Dropout(dropout, seed=seed, name="head_dropout")(inputs) if dropout > 0 else inputs
    outputs = {
        t: keras.layers.Dense(
            len(classes) or 1,
            activation="softmax" if classes else "linear",
            dtype="float32",
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i),
            name=t,
        )(x)
        for i, (t, classes) in enumerate(targets.items())
    }
    return keras.Model(inputs, outputs, name="head")


def build_backbone(
    backbone: str,
    strategy: str,
    *,
    img_size: int,
    weights: str | None = "imagenet",
    truncate_stage: str | None = None,
    channels: int = 3,
    first_conv: str = "auto",
    band_names: Sequence[str] | None = None,
) -> keras.Model:
    """The feature extractor a strategy uses: pretrained (or random for ``scratch``), truncated for ``truncated``
    (and for ``features_linear`` when ``truncate_stage`` is given: a linear head on that stage's features).

    ``channels`` ≠ 3 adapts the first convolution by ``first_conv`` (:mod:`tlgeo.backbones.channels`).
    """
    from tlgeo.backbones import backbone_info, get_backbone, truncate_backbone

    info = backbone_info(backbone)
    pretrained = strategy != "scratch" and weights is not None
    net = get_backbone(
        backbone,
        weights=weights if pretrained else None,
        input_shape=(img_size, img_size, channels),
        first_conv=first_conv,
        band_names=band_names,
    )
    if strategy == "truncated" or (strategy == "features_linear" and truncate_stage):
        net = truncate_backbone(net, info, truncate_stage or default_truncate_stage(info))
    return net


def build_model(
    backbone: str,
    strategy: str,
    targets: Mapping[str, list[str]],
    *,
    img_size: int,
    weights: str | None = "imagenet",
    truncate_stage: str | None = None,
    dropout: float = 0.2,
    seed: int = 0,
    net: keras.Model | None = None,
    head: keras.Model | None = None,
    channels: int = 3,
    first_conv: str = "auto",
    band_names: Sequence[str] | None = None,
) -> TransferModel:
    """Build the classifier for a strategy.

    Args:
        backbone: Registry name.
        strategy: A trainable strategy.
        targets: Target name → class names.
        img_size: Input edge in pixels.
        weights: Pretrained weights (ignored by ``scratch``, which starts from random weights).
        truncate_stage: Last stage for ``truncated`` (default :func:`default_truncate_stage`).
        dropout: Dropout before the head.
        seed: Seed for the new layers.
        net: A backbone already built by :func:`build_backbone` for the same arguments, reused as it is (saves
            rebuilding and reloading weights for every fold; restore its initial weights first if it was trained).
        head: A head built by :func:`build_head` for the same features and targets, reused as it is.
        channels: Input channels (one per band read); ≠ 3 adapts the first convolution.
        first_conv: Adaptation rule for ``channels`` ≠ 3 (``auto``, ``cyclic``, ``rgb_mean``).
        band_names: One name per channel (``rgb_mean`` uses red/green/blue).
    """
    import keras

    from tlgeo.backbones import backbone_info

    check_strategy(strategy)
    info = backbone_info(backbone)
    pretrained = strategy != "scratch" and weights is not None
    if net is None:
        net = build_backbone(
            backbone,
            strategy,
            img_size=img_size,
            weights=weights,
            truncate_stage=truncate_stage,
            channels=channels,
            first_conv=first_conv,
            band_names=band_names,
        )
    inputs = keras.Input(shape=(img_size, img_size, int(net.input_shape[-1])), name="image")
    if strategy == "scratch":
        net.trainable = True
        for layer in net.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                # Short schedules on small data: with the default 0.99 the running statistics are still far from
                # the batch statistics after a few dozen steps, and the model predicts one class at test time.
                layer.momentum = 0.9
        fmap = net(inputs)
    else:
        # Keras transfer-learning recipe: the pretrained backbone always runs in inference mode, so BatchNorm keeps
        # its ImageNet statistics even when layers are unfrozen for fine-tuning.
        net.trainable = False
        fmap = net(inputs, training=False)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool", dtype="float32")(fmap)
    head = head or build_head(int(pooled.shape[-1]), targets, dropout, seed)
    outputs = head(pooled)
    model = keras.Model(inputs, outputs, name=f"{backbone}_{strategy}")
    features = keras.Model(inputs, pooled, name=f"{backbone}_features")
    return TransferModel(model=model, backbone=net, features=features, head=head, info=info, pretrained=pretrained)


def unfreeze(tm: TransferModel, strategy: str, top_k_stages: int) -> list[keras.Variable]:
    """Make backbone layers trainable for phase 2 of ``fine_tune_top`` / ``fine_tune_all``; BatchNorm stays frozen.

    Returns:
        The backbone variables that became trainable (they get the lower learning rate).
    """
    import keras

    from tlgeo.backbones import stage_index_of_layers

    tm.backbone.trainable = True
    stage_of = stage_index_of_layers(tm.backbone, tm.info)
    n_stages = len(tm.info.stages)
    first_trainable = 0 if strategy == "fine_tune_all" else max(0, n_stages - top_k_stages)
    for layer in tm.backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
        else:
            layer.trainable = stage_of.get(layer.name, 0) >= first_trainable
    return list(tm.backbone.trainable_variables)


def layerwise_adam(learning_rate: float, slow_variables: list, multiplier: float):
    """Adam whose step for ``slow_variables`` (pretrained layers) is ``multiplier`` × the learning rate.

    Keras has no per-layer learning rates; this subclass scales the rate inside ``update_step`` for the variables
    given, which is exact for Adam (unlike scaling gradients, which Adam normalises away).
    """
    import keras

    class LayerwiseAdam(keras.optimizers.Adam):
        _slow_keys: set | None = None

        def _is_slow(self, variable) -> bool:
            if self._slow_keys is None:
                # The TF backend hands update_step the backend variable (or a replica of a mirrored one): compare
                # with the optimizer's own variable key, which resolves both to the same id.
                self._slow_keys = {self._var_key(v) for v in slow_variables}
            return self._var_key(variable) in self._slow_keys

        def update_step(self, gradient, variable, learning_rate):
            if self._is_slow(variable):
                learning_rate = learning_rate * multiplier
            return super().update_step(gradient, variable, learning_rate)

    return LayerwiseAdam(learning_rate=learning_rate)


# ----------------------------------------------------------------------------------------------- linear heads
def fit_linear_head(
    tm: TransferModel, features: np.ndarray, y: Mapping[str, np.ndarray], classifier: str, seed: int = 0
) -> dict[str, object]:
    """Fit scikit-learn logistic regression or a linear SVM per target and copy it into the Keras head.

    Logistic regression maps exactly onto Dense + softmax. A linear SVM's decision values are turned into
    probabilities by softmax with one temperature fitted on the training features (a multi-class Platt scaling),
    which is also a Dense + softmax. The saved model therefore needs no scikit-learn at prediction time.

    Returns:
        Per target, the fitted scikit-learn estimator.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    fitted = {}
    for target, labels in y.items():
        if int(tm.head.get_layer(target).units) == 1 and np.issubdtype(np.asarray(labels).dtype, np.floating):
            fitted[target] = _fit_ridge(tm, features, labels, target)
            continue
        mask = labels >= 0
        x, t = features[mask], labels[mask]
        n_classes = int(tm.head.get_layer(target).units)
        if classifier == "logistic":
            est = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000, random_state=seed))
        else:
            est = make_pipeline(StandardScaler(), LinearSVC(C=0.05, max_iter=20000, random_state=seed))
        present_classes = np.unique(t)
        if present_classes.size < 2:
            from tlgeo.errors import TrainingError

            only = f"only class {int(present_classes[0])}" if present_classes.size else "no labelled tile"
            raise TrainingError(
                f"features_linear: the training tiles of target {target!r} hold {only} in this fold "
                f"({int(mask.sum())} tile(s)); a linear classifier needs at least 2 classes",
                hint="Use fewer --folds, a larger --block-size, --split random, or another --strategy (frozen_head).",
            )
        est.fit(x, t)
        scaler, clf = est[0], est[1]
        coef = np.atleast_2d(clf.coef_) / scaler.scale_[None, :]
        intercept = np.atleast_1d(clf.intercept_) - coef @ scaler.mean_
        present = list(clf.classes_)
        if coef.shape[0] == 1:  # binary: sklearn keeps one row for the positive class
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.concatenate([[0.0], intercept])
        temp = (
            1.0 if classifier == "logistic" else _fit_temperature(x @ coef.T + intercept, np.searchsorted(present, t))
        )
        kernel = np.zeros((features.shape[1], n_classes), dtype="float32")
        bias = np.full((n_classes,), -1e4, dtype="float32")  # classes absent from training get ~0 probability
        for j, cls in enumerate(present):
            kernel[:, cls] = temp * coef[j]
            bias[cls] = temp * intercept[j]
        tm.head.get_layer(target).set_weights([kernel, bias])
        fitted[target] = est
    return fitted


def _fit_ridge(tm: TransferModel, features: np.ndarray, labels: np.ndarray, target: str):
    """Ridge regression (penalty chosen by leave-one-out over a grid) copied into the linear output ``target``."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    mask = np.isfinite(labels)
    if mask.sum() < 2:
        from tlgeo.errors import TrainingError

        raise TrainingError(
            f"features_linear: the training tiles of target {target!r} hold {int(mask.sum())} value(s) in this fold",
            hint="Use fewer --folds, a larger --block-size or --split random.",
        )
    est = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-1, 4, 11)))
    est.fit(features[mask], labels[mask])
    scaler, reg = est[0], est[1]
    coef = np.asarray(reg.coef_, dtype="float64").ravel() / scaler.scale_
    intercept = float(reg.intercept_) - float(coef @ scaler.mean_)
    tm.head.get_layer(target).set_weights([coef[:, None].astype("float32"), np.asarray([intercept], "float32")])
    return est


def rescale_regression_outputs(tm: TransferModel, stats: Mapping[str, tuple[float, float]]) -> None:
    """Fold target standardisation into the linear outputs: a head trained on z-scores then predicts
    ``z · sd + mean``, the target's own units (the saved model needs no statistics at prediction time)."""
    for target, (mean, sd) in stats.items():
        layer = tm.head.get_layer(target)
        kernel, bias = layer.get_weights()
        layer.set_weights([kernel * sd, bias * sd + mean])


def _fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """Scale factor a minimising the log loss of softmax(a · logits) (bounded search on log a)."""
    from tlgeo.calibration import fit_scale

    return fit_scale(logits, y)


# ----------------------------------------------------------------------------------------------- advisor
@dataclass(frozen=True)
class Recommendation:
    """The advisor's choice and why.

    Attributes:
        strategy: Recommended strategy.
        small: Whether the data counts as small (fewer than ``SMALL_PER_CLASS`` images in the rarest class).
        similar: Whether the imagery counts as similar to ImageNet.
        images_per_class: Images in the rarest class.
        similarity: Measured similarity in [0, 1] (``None`` when stated by the user).
        reason: One paragraph for the UI and CLI.
        alternatives: Other strategies worth comparing.
        probes: The measured advisor's probe table (:mod:`tlgeo.advisor`), one mapping per row; empty for the rule.
        metric: The metric the pick optimised (measured advisor).
        class_weights: The class weighting chosen with it.
        transfer_helps: Whether the best backbone probe beat ``chip_stats`` by more than the fold sd.
        verdict: "transfer from ImageNet does not help on this data: …" when it did not.
        budget_s: The advisor's time budget; ``spent_s``: seconds it took.
    """

    strategy: str
    small: bool
    similar: bool
    images_per_class: int
    similarity: float | None
    reason: str
    alternatives: tuple[str, ...]
    probes: tuple = ()
    metric: str | None = None
    class_weights: str | None = None
    transfer_helps: bool | None = None
    verdict: str | None = None
    budget_s: float | None = None
    spent_s: float | None = None


#: Similarity at or above which imagery counts as "similar to ImageNet" (see :func:`measure_similarity`).
SIMILARITY_THRESHOLD = 0.5


def recommend_strategy(
    images_per_class: int | Mapping[str, int],
    similarity: float | str | None = None,
    *,
    small_threshold: int = SMALL_PER_CLASS,
) -> Recommendation:
    """Choose a strategy from dataset size and similarity to ImageNet (the four classic cases).

    Args:
        images_per_class: Labelled images per class (a mapping; the rarest class counts) or the rarest count.
        similarity: Measured similarity in [0, 1] (:func:`measure_similarity`), or ``"similar"`` / ``"different"``
            as stated by the user; ``None`` assumes different (overhead imagery usually is).
        small_threshold: Images per class below which data is small.
    """
    if isinstance(images_per_class, Mapping):
        counts = [int(v) for v in images_per_class.values()]
        n = min(counts) if counts else 0
    else:
        n = int(images_per_class)
    if isinstance(similarity, str):
        if similarity not in ("similar", "different"):
            raise ConfigError(f"similarity must be 'similar', 'different' or a number, received {similarity!r}")
        similar, score, how = similarity == "similar", None, f"you described the imagery as {similarity}"
    elif similarity is None:
        similar, score, how = False, None, "similarity was not measured, so the imagery is assumed to differ"
    else:
        score = float(similarity)
        similar = score >= SIMILARITY_THRESHOLD
        how = (
            f"the backbone's activation statistics on your tiles give a similarity of {score:.2f} "
            f"({'≥' if similar else '<'} {SIMILARITY_THRESHOLD} → {'similar' if similar else 'different'})"
        )
    small = n < small_threshold
    size = f"the rarest class has {n} labelled tiles ({'under' if small else 'at least'} {small_threshold} per class → {'small' if small else 'large'})"
    if small and similar:
        strategy, why, alts = (
            "frozen_head",
            "With little data, fine-tuning millions of weights would overfit; ImageNet features already describe "
            "imagery like yours, so freeze the backbone and train only a new head.",
            ("features_linear", "fine_tune_top"),
        )
    elif small:
        strategy, why, alts = (
            "truncated",
            "With little data and imagery unlike ImageNet, the generic early stages (edges, textures, colour blobs) "
            "transfer best while the late, object-specific stages do not; keep the early stages frozen and train a "
            "new head on them.",
            ("frozen_head", "fine_tune_top", "features_linear"),
        )
    elif similar:
        strategy, why, alts = (
            "fine_tune_all",
            "With plenty of data similar to ImageNet, fine-tuning every layer from the pretrained weights (at a "
            "lower learning rate for pretrained layers) adapts the features without overfitting.",
            ("fine_tune_top", "frozen_head"),
        )
    else:
        strategy, why, alts = (
            "fine_tune_all",
            "With plenty of data unlike ImageNet, fine-tune the whole network from the pretrained weights; with very "
            "large data, training from scratch becomes competitive — compare both.",
            ("scratch", "fine_tune_top"),
        )
    reason = f"Recommended: {strategy}. {size[0].upper() + size[1:]}, and {how}. {why}"
    return Recommendation(
        strategy=strategy,
        small=small,
        similar=similar,
        images_per_class=n,
        similarity=score,
        reason=reason,
        alternatives=alts,
    )


#: Mean per-channel KL divergence (see :func:`measure_similarity`) at which similarity is 0.5.
SIMILARITY_KL_HALF = 0.15


def measure_similarity(
    images: np.ndarray,
    backbone: str = "efficientnet_lite0",
    *,
    weights: str | None = "imagenet",
    max_images: int = 64,
    first_conv: str = "auto",
    band_names: Sequence[str] | None = None,
) -> float:
    """How ImageNet-like a set of images looks to a pretrained backbone, in [0, 1].

    Every BatchNorm layer stores the mean and variance of its inputs over ImageNet. This measures the same
    statistics on ``images`` and compares them per channel as the KL divergence between the two Gaussians; the
    median over channels is averaged within each stage and then over stages (early stages see colour and texture,
    late ones object parts). The score is ``2 ** (−KL / 0.15)``: 1 means activations exactly as on ImageNet, 0.5 is
    the similar/different threshold. Calibration on this backbone at 128 px: natural photos (scikit-image's
    chelsea, coffee, astronaut, cat, rocket) ≈ 0.65; the bundled synthetic satellite scenes ≈ 0.3–0.35; uniform
    noise ≈ 0.1.

    Args:
        images: uint8 or float (N, H, W, C), 0–255 (RGB, or C bands through the adapted first convolution).
        backbone: Registry name (must have ImageNet weights).
        weights: Weights to compare against.
        max_images: Use at most this many images (evenly spaced).
        first_conv: First-convolution rule when C ≠ 3.
        band_names: One name per channel.
    """
    import keras

    from tlgeo.backbones import backbone_info, get_backbone, stage_index_of_layers

    info = backbone_info(backbone)
    if len(images) == 0:
        raise ConfigError("measure_similarity needs at least one image")
    take = np.linspace(0, len(images) - 1, min(max_images, len(images))).astype(int)
    batch = np.asarray(images[take], dtype="float32")
    net = get_backbone(
        backbone, weights=weights, input_shape=batch.shape[1:], first_conv=first_conv, band_names=band_names
    )
    stages = stage_index_of_layers(net, info)
    bns = [layer for layer in net.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not bns:
        raise ConfigError(f"Backbone {backbone!r} has no BatchNorm layers to measure similarity with")
    probe = keras.Model(net.input, [bn.input for bn in bns])
    acts = probe.predict(batch, batch_size=16, verbose=0)
    per_stage: dict[int, list[float]] = {}
    for bn, act in zip(bns, acts, strict=True):
        act = np.asarray(act, dtype="float64").reshape(-1, act.shape[-1])
        mu_u, var_u = act.mean(axis=0), act.var(axis=0) + bn.epsilon
        mu_r = np.asarray(bn.moving_mean, dtype="float64")
        var_r = np.asarray(bn.moving_variance, dtype="float64") + bn.epsilon
        kl = 0.5 * (var_u / var_r + (mu_u - mu_r) ** 2 / var_r - 1.0 + np.log(var_r / var_u))
        per_stage.setdefault(stages.get(bn.name, 0), []).append(float(np.median(kl)))
    mean_kl = float(np.mean([np.mean(v) for v in per_stage.values()]))
    return float(2.0 ** (-mean_kl / SIMILARITY_KL_HALF))


def outputs_by_target(outputs, targets: Mapping[str, list[str]] | list[str]) -> dict[str, np.ndarray]:
    """Normalise what ``model.predict`` returns (dict, list or a single array) to ``{target: probabilities}``.

    A model saved with one dict output predicts a plain array after loading; several outputs may come back as a
    list in target order.
    """
    names = list(targets)
    if isinstance(outputs, dict):
        if set(names) <= set(outputs):
            return {t: np.asarray(outputs[t]) for t in names}
        if len(outputs) == 1 and len(names) == 1:
            return {names[0]: np.asarray(next(iter(outputs.values())))}
        raise ConfigError(f"Model outputs {sorted(outputs)} do not match the run's targets {names}")
    if isinstance(outputs, (list, tuple)):
        if len(outputs) != len(names):
            raise ConfigError(f"Model has {len(outputs)} outputs but the run lists {len(names)} targets")
        return {t: np.asarray(o) for t, o in zip(names, outputs, strict=True)}
    if len(names) != 1:
        raise ConfigError(f"Model has one output but the run lists {len(names)} targets")
    return {names[0]: np.asarray(outputs)}
