"""Anki interop: packages in (they become markdown notes in the corpus) and out (genanki), review history into progress.

package   reading .apkg/.colpkg: the SQLite collection (legacy or current zstd format) and its media
html      Anki field HTML -> markdown; MathJax and [latex] -> $...$; clozes
templates Anki card templates: what each card shows on its question and its answer side
importer  decks -> notes in the corpus, media beside them, edited files left alone (`import_anki`)
history   Anki's review log -> a profile's progress, replayed through FSRS (`replay_history`)
guids     stable Anki GUIDs for kb cards, kept in <corpus>/.kb/anki-guids.json
export    kb cards -> an .apkg with genanki (`export_package`)

docs/anki.md describes the behaviour; the CLI is kb/cli/anki.py, through `kb.import_anki` and
`KnowledgeBase.export_anki` / `KnowledgeBase.import_anki_history`.
"""
