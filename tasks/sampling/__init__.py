"""How members see the imbalance: resampling strategies, augmentation and generative synthesis."""

# The names of the augmentation methods and their options (cheap to import: the specs and the command line's help
# read them without loading the samplers).
TABLE_AUGMENTS = ("jitter", "mixup")
IMAGE_TRANSFORMS = ("flip", "rotation", "translation", "zoom", "contrast")
GENERATIVE_MODELS = ("vae", "gan")
