"""Names the plots put in their titles: a data set's name from its path ("WikiText-2 valid" for
.../wikitext-2/valid.txt), not the file name alone, and a model's name from its checkpoint folder.
Imported by plot_measure.py and plot_eval.py (installed beside them).
"""
import os

# Folder names of the corpora under shared/data, as their papers write them.
KNOWN_DATA_SETS = {"wikitext-2": "WikiText-2", "wikitext-2-raw": "WikiText-2", "wikitext-103": "WikiText-103",
                   "c4": "C4", "ptb": "PTB", "pile": "The Pile", "lambada": "LAMBADA"}


def dataset_name(path):
    """'WikiText-2 valid' for .../wikitext-2/valid.txt; 'folder/file' for a corpus this does not know."""
    if not path:
        return "unknown data"
    path = os.path.normpath(str(path))
    stem = os.path.splitext(os.path.basename(path))[0]
    folder = os.path.basename(os.path.dirname(path))
    split = {"valid": "valid", "validation": "valid", "test": "test", "train": "train"}.get(stem.lower())
    if folder.lower() in KNOWN_DATA_SETS:
        return f"{KNOWN_DATA_SETS[folder.lower()]} {split or stem}"
    return f"{folder}/{stem}" if folder else stem


def model_name(path):
    return os.path.basename(os.path.normpath(str(path))) if path else "unknown model"
