"""The progress store's schema: numbered, append-only migrations, applied in order and recorded in
the `migrations` table (kb/coach/progress.py applies them)."""
from __future__ import annotations

# Append-only. Never edit a shipped migration: add the next number.
MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "reviews and card state",
        """
        CREATE TABLE profiles (
            name TEXT PRIMARY KEY,
            created_at TEXT NOT NULL
        );
        CREATE TABLE reviews (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            profile TEXT NOT NULL REFERENCES profiles(name),
            card_id TEXT NOT NULL,
            family TEXT NOT NULL DEFAULT '',
            question TEXT NOT NULL DEFAULT '',
            reviewed_at TEXT NOT NULL,
            answer TEXT NOT NULL DEFAULT '',
            score INTEGER NOT NULL,
            suggested_rating TEXT NOT NULL,
            rating TEXT NOT NULL,
            hints INTEGER NOT NULL DEFAULT 0,
            state_before TEXT,
            state_after TEXT NOT NULL
        );
        CREATE TABLE card_state (
            profile TEXT NOT NULL REFERENCES profiles(name),
            card_id TEXT NOT NULL,
            family TEXT NOT NULL DEFAULT '',
            question TEXT NOT NULL DEFAULT '',
            fsrs_state TEXT NOT NULL,
            due TEXT NOT NULL,
            last_score INTEGER,
            last_review_id INTEGER REFERENCES reviews(id),
            reviews INTEGER NOT NULL DEFAULT 0,
            lapses INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (profile, card_id)
        );
        """,
    ),
    (
        2,
        "indexes and missing-card tracking",
        """
        CREATE INDEX reviews_by_profile_time ON reviews(profile, reviewed_at);
        CREATE INDEX reviews_by_card ON reviews(profile, card_id);
        CREATE INDEX card_state_by_due ON card_state(profile, due);
        ALTER TABLE card_state ADD COLUMN missing_since TEXT;
        """,
    ),
    (
        3,
        "FSRS parameters fitted per profile",
        """
        CREATE TABLE fsrs_fits (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            profile TEXT NOT NULL REFERENCES profiles(name),
            fitted_at TEXT NOT NULL,
            parameters TEXT NOT NULL,
            reviews INTEGER NOT NULL,
            train_reviews INTEGER NOT NULL,
            holdout_reviews INTEGER NOT NULL,
            loss_default REAL NOT NULL,
            loss_fitted REAL NOT NULL,
            rmse_default REAL,
            rmse_fitted REAL,
            adopted INTEGER NOT NULL
        );
        CREATE INDEX fsrs_fits_by_profile ON fsrs_fits(profile, id);
        """,
    ),
    (
        4,
        "grading corrections: labelled answers, key points said or not, dismissed contradictions",
        """
        CREATE TABLE labelled_answers (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            profile TEXT NOT NULL REFERENCES profiles(name),
            card_id TEXT NOT NULL,
            card_hash TEXT NOT NULL,
            answer TEXT NOT NULL,
            label TEXT NOT NULL,
            covered TEXT NOT NULL,
            vector BLOB,
            model TEXT NOT NULL DEFAULT '',
            marked_at TEXT NOT NULL
        );
        CREATE INDEX labelled_answers_by_card ON labelled_answers(profile, card_id);
        CREATE TABLE point_marks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            answer_id INTEGER NOT NULL REFERENCES labelled_answers(id),
            card_hash TEXT NOT NULL,
            point TEXT NOT NULL,
            said INTEGER NOT NULL
        );
        CREATE INDEX point_marks_by_answer ON point_marks(answer_id);
        CREATE TABLE dismissed_contradictions (
            profile TEXT NOT NULL REFERENCES profiles(name),
            card_id TEXT NOT NULL,
            card_sentence TEXT NOT NULL,
            card_hash TEXT NOT NULL,
            dismissed_at TEXT NOT NULL,
            PRIMARY KEY (profile, card_id, card_sentence)
        )
        """,
    ),
    (
        5,
        "grader weights fitted per profile",
        """
        CREATE TABLE grader_fits (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            profile TEXT NOT NULL REFERENCES profiles(name),
            fitted_at TEXT NOT NULL,
            weights TEXT,
            labels INTEGER NOT NULL,
            fit_labels INTEGER NOT NULL,
            judge_labels INTEGER NOT NULL,
            auc_default REAL,
            auc_fitted REAL,
            adopted INTEGER NOT NULL
        );
        CREATE INDEX grader_fits_by_profile ON grader_fits(profile, id)
        """,
    ),
    (
        6,
        "chat replies marked 'not what I asked'",
        """
        CREATE TABLE chat_rejections (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            profile TEXT NOT NULL REFERENCES profiles(name),
            question TEXT NOT NULL,
            asked TEXT NOT NULL,
            card_id TEXT NOT NULL,
            card_hash TEXT NOT NULL,
            marked_at TEXT NOT NULL,
            UNIQUE (profile, question, card_id)
        )
        """,
    ),
]
