"""Small task files in each benchmark's public layouts, for the task tests (tests/tasks/test_task_parity.py).

HF: the layout of the Hugging Face dataset lm-eval-harness loads (what `Dataset.to_json` writes);
ORIGINAL: the original release's layout where it differs. Both must give the same requests.
One LAMBADA passage is longer than the tiny test model's 96 positions, so left truncation is compared too.
"""
import json
import os

LONG = ("the old lighthouse keeper walked along the shore every morning , counting the boats that came back from "
        "the sea , and every evening he climbed the stairs to light the lamp again , because the ships that passed "
        "in the dark needed the light more than anyone in the small town ever knew , and the keeper had promised "
        "his father long ago that the lamp would never go out while he lived in the lighthouse")

HF = {
    "cb": [
        {"premise": "It was a cold night and the wind was strong.", "hypothesis": "the night was cold", "label": 0, "idx": 0},
        {"premise": "She said she never liked the city.", "hypothesis": "she loves the city", "label": 1, "idx": 1},
        {"premise": "Maybe he will come tomorrow, maybe not.", "hypothesis": "he will come tomorrow", "label": 2, "idx": 2},
    ],
    "rte": [
        {"premise": "The company opened a new factory in Ohio last year.", "hypothesis": "The company has a factory in Ohio.", "label": 0, "idx": 0},
        {"premise": "Rain fell all day in the capital.", "hypothesis": "The capital was dry all day.", "label": 1, "idx": 1},
    ],
    "copa": [
        {"premise": "The man broke his toe.", "choice1": "He dropped a hammer on his foot.", "choice2": "He got a hole in his sock.", "question": "cause", "label": 0, "idx": 0},
        {"premise": "I tipped the bottle.", "choice1": "The liquid in the bottle froze.", "choice2": "The liquid in the bottle poured out.", "question": "effect", "label": 1, "idx": 1},
    ],
    "hellaswag": [
        {"ind": 4, "activity_label": "Removing ice from car", "ctx_a": "Then, the man writes over the snow covering the window of a car, and a woman wearing winter clothes smiles.",
         "ctx_b": "then", "ctx": "", "endings": [", the man adds wax to the windshield and cuts it.", ", a person board a ski lift, while two men supporting the head of the person wearing winter clothes snow as the we girls sled.", ", the man puts on a christmas coat, knitted with netting.", ", the man continues removing the snow on his car."],
         "source_id": "activitynet~v_-1IBHYS3L-Y", "split": "val", "split_type": "indomain", "label": "3"},
        {"ind": 9, "activity_label": "Home and Garden", "ctx_a": "[header] How to grow a lemon tree [title] Pick a sunny spot.", "ctx_b": "the TREE needs", "ctx": "",
         "endings": ["[step] at least six hours of sun a day.", "a dark room [substeps] to sleep.", "to be painted blue.", "cold water and ice."],
         "source_id": "wikihow~1", "split": "val", "split_type": "indomain", "label": "0"},
    ],
    "openbookqa": [
        {"id": "7-980", "question_stem": "The sun is responsible for", "choices": {"text": ["puppies learning new tricks", "children growing up and getting old", "flowers wilting in a vase", "plants sprouting, blooming and wilting"], "label": ["A", "B", "C", "D"]}, "answerKey": "D"},
        {"id": "7-584", "question_stem": "When food is reduced in the stomach", "choices": {"text": ["the mind needs time to digest", "take a second to digest what I said", "nutrients are being deconstructed", "reader's digest is a body of works"], "label": ["A", "B", "C", "D"]}, "answerKey": "C"},
    ],
    "piqa": [
        {"goal": "How do I ready a guinea pig cage for it's new occupants?", "sol1": "Provide the guinea pig with a cage full of a few inches of bedding made of ripped paper strips, you will also need to supply it with a water bottle and a food dish.", "sol2": "Provide the guinea pig with a cage full of a few inches of bedding made of ripped jeans material, you will also need to supply it with a water bottle and a food dish.", "label": 0},
        {"goal": "To make french fries soft,", "sol1": "fry them in oil for a long time.", "sol2": "steam them before frying.", "label": 1},
    ],
    "winogrande": [
        {"sentence": "Sarah was a much better surgeon than Maria so _ always got the harder cases.", "option1": "Sarah", "option2": "Maria", "answer": "1"},
        {"sentence": "The trophy doesn't fit into the brown suitcase because the _ is too large.", "option1": "trophy", "option2": "suitcase", "answer": "1"},
        {"sentence": "The trophy doesn't fit into the brown suitcase because the _ is too small.", "option1": "trophy", "option2": "suitcase", "answer": "2"},
    ],
    "lambada": [
        {"text": "he picked up the cup of tea and drank it slowly while the tea was still hot"},
        {"text": "in the morning the children ran to the window to see if the snow had fallen, and the snow"},
        {"text": LONG},
    ],
    "jsonl": [
        {"context": "The capital of France is", "choices": ["Paris.", "a kind of cheese made in the hills.", "blue"], "gold": 0},
        {"context": "She opened the door and", "choices": ["walked in.", "the sky.", "seven"], "gold": 0},
    ],
}

# The original releases' layouts (SuperGLUE JSONL labels as strings; OpenBookQA's nested question; PIQA's
# labels in <stem>-labels.lst; HellaSwag's integer label).
ORIGINAL = {
    "cb": [dict(d, label=["entailment", "contradiction", "neutral"][d["label"]]) for d in HF["cb"]],
    "rte": [dict(d, label=["entailment", "not_entailment"][d["label"]]) for d in HF["rte"]],
    "openbookqa": [{"id": d["id"], "question": {"stem": d["question_stem"], "choices": [
        {"text": t, "label": l} for t, l in zip(d["choices"]["text"], d["choices"]["label"])]},
        "answerKey": d["answerKey"]} for d in HF["openbookqa"]],
    "piqa": [{k: v for k, v in d.items() if k != "label"} for d in HF["piqa"]],
    "hellaswag": [dict(d, label=int(d["label"])) for d in HF["hellaswag"]],
}


def write_jsonl(path, docs):
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d) + "\n")


def write_samples(directory):
    """Writes <task>.jsonl (HF layout) and <task>_original/<file> (original layouts); returns both maps."""
    os.makedirs(directory, exist_ok=True)
    hf, orig = {}, {}
    for task, docs in HF.items():
        hf[task] = os.path.join(directory, f"{task}.jsonl")
        write_jsonl(hf[task], docs)
    for task, docs in ORIGINAL.items():
        sub = os.path.join(directory, f"{task}_original")
        os.makedirs(sub, exist_ok=True)
        orig[task] = os.path.join(sub, "valid.jsonl")
        write_jsonl(orig[task], docs)
        if task == "piqa":
            with open(os.path.join(sub, "valid-labels.lst"), "w") as f:
                f.write("".join(f"{d['label']}\n" for d in HF["piqa"]))
    return hf, orig
