"""A corpus of small functions with tests, each with a known-right and a known-wrong answer.

Every case has a pytest suite, a right implementation and a wrong one. Wrong answers come in
four kinds: a wrong body, an endless loop (stopped by the check's time limit), broken syntax,
and an answer truncated by the token limit (its code fence never closes, so no file is
written). The validation tests serve these answers through the emulator's scripted replies
and compare every verdict, and the first-try pass rate, with the truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["CASES", "Case", "WrongKind", "answer"]

WrongKind = Literal["body", "loop", "syntax", "truncated"]


@dataclass(frozen=True)
class Case:
    """One function: its name, tests, right code and wrong code of a given kind."""

    name: str
    tests: str
    right: str
    wrong: str
    wrong_kind: WrongKind


def _case(name: str, right: str, wrong_body: str, tests: str, kind: WrongKind) -> Case:
    wrong = {
        "body": wrong_body,
        "loop": f"def {name}(*args, **kwargs):\n    while True:\n        pass\n",
        "syntax": right.replace("):", ")", 1),
        "truncated": right,  # cut by the token limit when served (see answer())
    }[kind]
    test_src = f"from {name} import {name}\n\n\n" + tests
    return Case(name, test_src, right, wrong, kind)


_RAW: list[tuple[str, str, str, str]] = [
    ("add", "def add(a, b):\n    return a + b\n", "def add(a, b):\n    return a - b\n",
     "def test_add():\n    assert add(2, 3) == 5\n    assert add(-1, 1) == 0\n"),
    ("subtract", "def subtract(a, b):\n    return a - b\n",
     "def subtract(a, b):\n    return b - a\n",
     "def test_subtract():\n    assert subtract(7, 10) == -3\n"),
    ("multiply", "def multiply(a, b):\n    return a * b\n",
     "def multiply(a, b):\n    return a + b\n",
     "def test_multiply():\n    assert multiply(3, 4) == 12\n"),
    ("safe_divide", "def safe_divide(a, b):\n    return None if b == 0 else a / b\n",
     "def safe_divide(a, b):\n    return a / b\n",
     "def test_safe_divide():\n    assert safe_divide(6, 3) == 2\n"
     "    assert safe_divide(1, 0) is None\n"),
    ("is_even", "def is_even(n):\n    return n % 2 == 0\n",
     "def is_even(n):\n    return n % 2 == 1\n",
     "def test_is_even():\n    assert is_even(4) and not is_even(3)\n"),
    ("factorial", "def factorial(n):\n    out = 1\n    for i in range(2, n + 1):\n"
     "        out *= i\n    return out\n",
     "def factorial(n):\n    out = 1\n    for i in range(2, n):\n        out *= i\n"
     "    return out\n",
     "def test_factorial():\n    assert factorial(0) == 1\n    assert factorial(5) == 120\n"),
    ("fibonacci", "def fibonacci(n):\n    a, b = 0, 1\n    for _ in range(n):\n"
     "        a, b = b, a + b\n    return a\n",
     "def fibonacci(n):\n    a, b = 1, 1\n    for _ in range(n):\n        a, b = b, a + b\n"
     "    return a\n",
     "def test_fibonacci():\n"
     "    assert [fibonacci(i) for i in range(7)] == [0, 1, 1, 2, 3, 5, 8]\n"),
    ("reverse_string", "def reverse_string(s):\n    return s[::-1]\n",
     "def reverse_string(s):\n    return s\n",
     "def test_reverse_string():\n    assert reverse_string('abc') == 'cba'\n"),
    ("is_palindrome", "def is_palindrome(s):\n    t = ''.join(c.lower() for c in s "
     "if c.isalnum())\n    return t == t[::-1]\n",
     "def is_palindrome(s):\n    return s == s[::-1]\n",
     "def test_is_palindrome():\n    assert is_palindrome('A man, a plan, a canal: Panama')\n"
     "    assert not is_palindrome('abc')\n"),
    ("count_vowels", "def count_vowels(s):\n    return sum(c in 'aeiouAEIOU' for c in s)\n",
     "def count_vowels(s):\n    return sum(c in 'aeiou' for c in s)\n",
     "def test_count_vowels():\n    assert count_vowels('Education') == 5\n"),
    ("max_of", "def max_of(xs):\n    return max(xs) if xs else None\n",
     "def max_of(xs):\n    return min(xs) if xs else None\n",
     "def test_max_of():\n    assert max_of([3, 9, 2]) == 9\n    assert max_of([]) is None\n"),
    ("mean", "def mean(xs):\n    return sum(xs) / len(xs)\n",
     "def mean(xs):\n    return sum(xs) // len(xs)\n",
     "def test_mean():\n    assert mean([1, 2]) == 1.5\n"),
    ("median", "def median(xs):\n    s = sorted(xs)\n    n = len(s)\n"
     "    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2\n",
     "def median(xs):\n    return sorted(xs)[len(xs) // 2]\n",
     "def test_median():\n"
     "    assert median([3, 1, 2]) == 2\n    assert median([4, 1, 3, 2]) == 2.5\n"),
    ("flatten", "def flatten(xss):\n    return [x for xs in xss for x in xs]\n",
     "def flatten(xss):\n    return xss[0] if xss else []\n",
     "def test_flatten():\n    assert flatten([[1, 2], [3], []]) == [1, 2, 3]\n"),
    ("unique", "def unique(xs):\n    return list(dict.fromkeys(xs))\n",
     "def unique(xs):\n    return sorted(set(xs))\n",
     "def test_unique():\n    assert unique([3, 1, 3, 2, 1]) == [3, 1, 2]\n"),
    ("chunk", "def chunk(xs, n):\n    return [xs[i:i + n] for i in range(0, len(xs), n)]\n",
     "def chunk(xs, n):\n    return [xs[i:i + n] for i in range(0, len(xs) - n, n)]\n",
     "def test_chunk():\n    assert chunk([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]\n"),
    ("clamp", "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n",
     "def clamp(x, lo, hi):\n    return min(lo, max(x, hi))\n",
     "def test_clamp():\n    assert clamp(5, 0, 3) == 3 and clamp(-1, 0, 3) == 0\n"
     "    assert clamp(2, 0, 3) == 2\n"),
    ("gcd", "def gcd(a, b):\n    while b:\n        a, b = b, a % b\n    return a\n",
     "def gcd(a, b):\n    return min(a, b)\n",
     "def test_gcd():\n    assert gcd(12, 18) == 6\n"),
    ("is_prime", "def is_prime(n):\n    if n < 2:\n        return False\n"
     "    return all(n % d for d in range(2, int(n ** 0.5) + 1))\n",
     "def is_prime(n):\n    return n % 2 == 1\n",
     "def test_is_prime():\n"
     "    assert [n for n in range(12) if is_prime(n)] == [2, 3, 5, 7, 11]\n"),
    ("word_count", "def word_count(s):\n    return len(s.split())\n",
     "def word_count(s):\n    return len(s.split(' '))\n",
     "def test_word_count():\n    assert word_count('  two   words ') == 2\n"),
    ("capitalize_words", "def capitalize_words(s):\n    return ' '.join(w.capitalize() "
     "for w in s.split(' '))\n",
     "def capitalize_words(s):\n    return s.upper()\n",
     "def test_capitalize_words():\n    assert capitalize_words('hello big world') == "
     "'Hello Big World'\n"),
    ("dedupe_sorted", "def dedupe_sorted(xs):\n    return sorted(set(xs))\n",
     "def dedupe_sorted(xs):\n    return sorted(xs)\n",
     "def test_dedupe_sorted():\n    assert dedupe_sorted([3, 1, 3]) == [1, 3]\n"),
    ("binary_search", "def binary_search(xs, t):\n    lo, hi = 0, len(xs) - 1\n"
     "    while lo <= hi:\n        mid = (lo + hi) // 2\n        if xs[mid] == t:\n"
     "            return mid\n        if xs[mid] < t:\n            lo = mid + 1\n"
     "        else:\n            hi = mid - 1\n    return -1\n",
     "def binary_search(xs, t):\n    return xs.index(t) if t in xs else 0\n",
     "def test_binary_search():\n    assert binary_search([1, 3, 5, 7], 5) == 2\n"
     "    assert binary_search([1, 3], 4) == -1\n"),
    ("merge_dicts", "def merge_dicts(a, b):\n    return {**a, **b}\n",
     "def merge_dicts(a, b):\n    return {**b, **a}\n",
     "def test_merge_dicts():\n    assert merge_dicts({'x': 1}, {'x': 2, 'y': 3}) == "
     "{'x': 2, 'y': 3}\n"),
    ("sum_digits", "def sum_digits(n):\n    return sum(int(d) for d in str(abs(n)))\n",
     "def sum_digits(n):\n    return len(str(n))\n",
     "def test_sum_digits():\n    assert sum_digits(1234) == 10 and sum_digits(-56) == 11\n"),
    ("rotate", "def rotate(xs, k):\n    if not xs:\n        return []\n    k %= len(xs)\n"
     "    return xs[-k:] + xs[:-k]\n",
     "def rotate(xs, k):\n    return xs[k:] + xs[:k]\n",
     "def test_rotate():\n    assert rotate([1, 2, 3, 4], 1) == [4, 1, 2, 3]\n"),
    ("celsius_to_f", "def celsius_to_f(c):\n    return c * 9 / 5 + 32\n",
     "def celsius_to_f(c):\n    return c * 5 / 9 + 32\n",
     "def test_celsius_to_f():\n    assert celsius_to_f(100) == 212\n"),
    ("transpose", "def transpose(m):\n    return [list(r) for r in zip(*m)]\n",
     "def transpose(m):\n    return m\n",
     "def test_transpose():\n    assert transpose([[1, 2], [3, 4]]) == [[1, 3], [2, 4]]\n"),
    ("anagram", "def anagram(a, b):\n    return sorted(a) == sorted(b)\n",
     "def anagram(a, b):\n    return set(a) == set(b)\n",
     "def test_anagram():\n    assert anagram('listen', 'silent')\n"
     "    assert not anagram('aab', 'abb')\n"),
    ("run_length", "def run_length(s):\n    out = []\n    for c in s:\n"
     "        if out and out[-1][0] == c:\n            out[-1][1] += 1\n        else:\n"
     "            out.append([c, 1])\n    return [(c, n) for c, n in out]\n",
     "def run_length(s):\n    return [(c, s.count(c)) for c in dict.fromkeys(s)]\n",
     "def test_run_length():\n    assert run_length('aabccca') == [('a', 2), ('b', 1), "
     "('c', 3), ('a', 1)]\n"),
    ("second_largest", "def second_largest(xs):\n    s = sorted(set(xs))\n"
     "    return s[-2] if len(s) > 1 else None\n",
     "def second_largest(xs):\n    return sorted(xs)[-2]\n",
     "def test_second_largest():\n    assert second_largest([5, 5, 3]) == 3\n"
     "    assert second_largest([1]) is None\n"),
    ("snake_case", "def snake_case(s):\n    out = ''\n    for i, c in enumerate(s):\n"
     "        if c.isupper() and i:\n            out += '_'\n        out += c.lower()\n"
     "    return out\n",
     "def snake_case(s):\n    return s.lower()\n",
     "def test_snake_case():\n    assert snake_case('HelloWorldAgain') == 'hello_world_again'\n"),
]

_KINDS: list[WrongKind] = ["body", "body", "loop", "syntax", "truncated"]

#: Every case; the wrong kinds rotate so the corpus holds each kind several times.
CASES: list[Case] = [_case(name, right, wrong, tests, _KINDS[i % len(_KINDS)])
                     for i, (name, right, wrong, tests) in enumerate(_RAW)]

#: Lines of padding that make a truncated answer overrun any reasonable token limit.
PADDING = "".join(f"# padding line {i}: this answer goes on and on\n" for i in range(400))


def answer(case: Case, right: bool) -> str:
    """The model's reply for ``case``: a fenced file, or a truncated one (its fence never
    closes before the token limit cuts it)."""
    code = case.right if right else case.wrong
    if not right and case.wrong_kind == "truncated":
        return f"```python\n# file: {case.name}.py\n{code}{PADDING}```\n"
    return f"```python\n# file: {case.name}.py\n{code}```\n"
