"""The notebook: what a data scientist has before mlprod.

Breast-cancer diagnosis on scikit-learn's copy of the Wisconsin data
(569 tumours, 30 measurements each). Any Python with scikit-learn and
pandas runs it: it prints the held-out accuracy and writes the data
as `breast_cancer.csv`.
"""

# %% The data: scikit-learn ships it, no download.
import re

from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

bunch = load_breast_cancer(as_frame=True)
frame = bunch.frame.rename(columns=lambda name: re.sub(r"\W+", "_", name).strip("_"))
frame["diagnosis"] = bunch.target.map(dict(enumerate(bunch.target_names)))
frame = frame.drop(columns="target")
counts = frame["diagnosis"].value_counts()
print(
    f"{len(frame)} tumours, {frame.shape[1] - 1} features,",
    ", ".join(f"{n} {c}" for c, n in counts.items()),
)

# %% The model: scaled logistic regression, checked on a held-out quarter.
X, y = frame.drop(columns="diagnosis"), frame["diagnosis"]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=5000))
model.fit(X_train, y_train)
print(f"accuracy {accuracy_score(y_test, model.predict(X_test)):.4f}")

# %% Hand the data over: one CSV, snake_case column names, the target by name.
frame.to_csv("breast_cancer.csv", index=False)
print("wrote breast_cancer.csv")
