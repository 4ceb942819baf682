#!/usr/bin/env python3
"""Regenerate the generated files of ragline's demo corpus and test fixtures.

Needs these pip packages (any venv; all but pillow are in ragline's `dev` extra):

    pip install "reportlab>=4.0" "pypdf>=4.0" "cryptography>=42" "pillow>=10.1"

(pillow is a reportlab dependency; >=10.1 for ImageFont.load_default(size=...).
cryptography is what pypdf uses for AES. Last run with reportlab 5.1.0,
pypdf 7.1.0, pillow 13.0.0, cryptography 50.0.2 on Python 3.11.)

Usage:

    python scripts/make_fixtures.py                # write everything
    python scripts/make_fixtures.py --only samples # or: --only fixtures
    python scripts/make_fixtures.py --cranfield /path/to/cranfield   # BEIR folder

The JSONL files need the Cranfield data (default ../shared/datasets/cranfield beside the checkout);
without it they are left as committed.

What it writes (everything else in the two folders is a real file copied
verbatim from a Debian package and committed as-is; see
samples/SOURCES.md and tests/fixtures/README.md):

  samples/corpus/papers/sorting-howto.pdf                 <- SORTING_HOWTO
  samples/corpus/licences/psf-history-and-license.pdf     <- PSF_HISTORY_AND_LICENSE
  samples/corpus/data/cranfield-40.jsonl                  <- Cranfield (if --cranfield found)
  tests/fixtures/corpus/good/tutorial-interpreter.pdf     <- TUTORIAL_INTERPRETER
  tests/fixtures/corpus/good/records.jsonl                <- Cranfield + DPKG_REALPATH_FR
  tests/fixtures/corpus/duplicates/exact/bsd-license-copy.txt  <- copy of good/bsd-license.txt
  tests/fixtures/corpus/duplicates/near/bugs-article*.txt <- BUGS_ARTICLE (3 variants)
  tests/fixtures/corpus/encoding/*                        <- latin-1, invalid UTF-8, NFD+controls, BOM+CRLF,
                                                             UTF-16/UTF-32 with a BOM (both byte orders)
  tests/fixtures/corpus/edge/*                            <- partly scanned PDF, deep HTML, bad JSONL
  tests/fixtures/corpus/bad/*                             <- corrupt/encrypted/scanned PDF, binary, empty, ...

Every text below is real text; its origin is given next to it.  Output is
byte-for-byte deterministic for a given reportlab/pypdf/pillow version:
reportlab runs with invariant=1, random bytes come from seeded RNGs, and
pypdf's random file ID / AES IVs are drawn from a seeded RNG while encrypting.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import random
import re
import secrets
import sys
import textwrap
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "corpus"
FIXTURES = ROOT / "tests" / "fixtures" / "corpus"
DEFAULT_CRANFIELD = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cranfield"

# Password of tests/fixtures/corpus/bad/encrypted.pdf (user / owner).
ENCRYPTED_USER_PASSWORD = "ragline-fixture"
ENCRYPTED_OWNER_PASSWORD = "ragline-owner"

# ---------------------------------------------------------------------------
# Source texts.
#
# Mini markup used for the PDF texts: "# " title, "## " / "### " section
# headings, blocks whose lines all start with four spaces are code, "* " is a
# bullet item, "| a | b |" lines form a table, anything else is a paragraph
# (one paragraph per blank-line separated block).
# ---------------------------------------------------------------------------
# Python 3.11.2 docs, Doc/howto/sorting.rst ("Sorting HOW TO", Andrew Dalke and Raymond
# Hettinger), PSF License / Zero-Clause BSD. From Debian python3.11-doc
# /usr/share/doc/python3.11/html/_sources/howto/sorting.rst.txt; reST roles removed,
# the final "Odds and Ends" section left out.
SORTING_HOWTO = """\
# Sorting HOW TO

Author: Andrew Dalke and Raymond Hettinger. Release: 0.1

Python lists have a built-in list.sort method that modifies the list in-place.  There is also a sorted built-in function that builds a new sorted list from an iterable.

In this document, we explore the various techniques for sorting data using Python.

## Sorting Basics

A simple ascending sort is very easy: just call the sorted function. It returns a new sorted list:

    >>> sorted([5, 2, 3, 1, 4])
    [1, 2, 3, 4, 5]

You can also use the list.sort method. It modifies the list in-place (and returns None to avoid confusion). Usually it's less convenient than sorted - but if you don't need the original list, it's slightly more efficient.

    >>> a = [5, 2, 3, 1, 4]
    >>> a.sort()
    >>> a
    [1, 2, 3, 4, 5]

Another difference is that the list.sort method is only defined for lists. In contrast, the sorted function accepts any iterable.

    >>> sorted({1: 'D', 2: 'B', 3: 'B', 4: 'E', 5: 'A'})
    [1, 2, 3, 4, 5]

## Key Functions

Both list.sort and sorted have a key parameter to specify a function (or other callable) to be called on each list element prior to making comparisons.

For example, here's a case-insensitive string comparison:

    >>> sorted("This is a test string from Andrew".split(), key=str.lower)
    ['a', 'Andrew', 'from', 'is', 'string', 'test', 'This']

The value of the key parameter should be a function (or other callable) that takes a single argument and returns a key to use for sorting purposes. This technique is fast because the key function is called exactly once for each input record.

A common pattern is to sort complex objects using some of the object's indices as keys. For example:

    >>> student_tuples = [
    ...     ('john', 'A', 15),
    ...     ('jane', 'B', 12),
    ...     ('dave', 'B', 10),
    ... ]
    >>> sorted(student_tuples, key=lambda student: student[2])   # sort by age
    [('dave', 'B', 10), ('jane', 'B', 12), ('john', 'A', 15)]

The same technique works for objects with named attributes. For example:

    >>> class Student:
    ...     def __init__(self, name, grade, age):
    ...         self.name = name
    ...         self.grade = grade
    ...         self.age = age
    ...     def __repr__(self):
    ...         return repr((self.name, self.grade, self.age))

    >>> student_objects = [
    ...     Student('john', 'A', 15),
    ...     Student('jane', 'B', 12),
    ...     Student('dave', 'B', 10),
    ... ]
    >>> sorted(student_objects, key=lambda student: student.age)   # sort by age
    [('dave', 'B', 10), ('jane', 'B', 12), ('john', 'A', 15)]

## Operator Module Functions

The key-function patterns shown above are very common, so Python provides convenience functions to make accessor functions easier and faster. The operator module has itemgetter, attrgetter, and a methodcaller function.

Using those functions, the above examples become simpler and faster:

    >>> from operator import itemgetter, attrgetter

    >>> sorted(student_tuples, key=itemgetter(2))
    [('dave', 'B', 10), ('jane', 'B', 12), ('john', 'A', 15)]

    >>> sorted(student_objects, key=attrgetter('age'))
    [('dave', 'B', 10), ('jane', 'B', 12), ('john', 'A', 15)]

The operator module functions allow multiple levels of sorting. For example, to sort by grade then by age:

    >>> sorted(student_tuples, key=itemgetter(1,2))
    [('john', 'A', 15), ('dave', 'B', 10), ('jane', 'B', 12)]

    >>> sorted(student_objects, key=attrgetter('grade', 'age'))
    [('john', 'A', 15), ('dave', 'B', 10), ('jane', 'B', 12)]

## Ascending and Descending

Both list.sort and sorted accept a reverse parameter with a boolean value. This is used to flag descending sorts. For example, to get the student data in reverse age order:

    >>> sorted(student_tuples, key=itemgetter(2), reverse=True)
    [('john', 'A', 15), ('jane', 'B', 12), ('dave', 'B', 10)]

    >>> sorted(student_objects, key=attrgetter('age'), reverse=True)
    [('john', 'A', 15), ('jane', 'B', 12), ('dave', 'B', 10)]

## Sort Stability and Complex Sorts

Sorts are guaranteed to be stable. That means that when multiple records have the same key, their original order is preserved.

    >>> data = [('red', 1), ('blue', 1), ('red', 2), ('blue', 2)]
    >>> sorted(data, key=itemgetter(0))
    [('blue', 1), ('blue', 2), ('red', 1), ('red', 2)]

Notice how the two records for blue retain their original order so that ('blue', 1) is guaranteed to precede ('blue', 2).

This wonderful property lets you build complex sorts in a series of sorting steps. For example, to sort the student data by descending grade and then ascending age, do the age sort first and then sort again using grade:

    >>> s = sorted(student_objects, key=attrgetter('age'))     # sort on secondary key
    >>> sorted(s, key=attrgetter('grade'), reverse=True)       # now sort on primary key, descending
    [('dave', 'B', 10), ('jane', 'B', 12), ('john', 'A', 15)]

This can be abstracted out into a wrapper function that can take a list and tuples of field and order to sort them on multiple passes.

    >>> def multisort(xs, specs):
    ...     for key, reverse in reversed(specs):
    ...         xs.sort(key=attrgetter(key), reverse=reverse)
    ...     return xs

    >>> multisort(list(student_objects), (('grade', True), ('age', False)))
    [('dave', 'B', 10), ('jane', 'B', 12), ('john', 'A', 15)]

The Timsort algorithm used in Python does multiple sorts efficiently because it can take advantage of any ordering already present in a dataset.

## Decorate-Sort-Undecorate

This idiom is called Decorate-Sort-Undecorate after its three steps:

* First, the initial list is decorated with new values that control the sort order.

* Second, the decorated list is sorted.

* Finally, the decorations are removed, creating a list that contains only the initial values in the new order.

For example, to sort the student data by grade using the DSU approach:

    >>> decorated = [(student.grade, i, student) for i, student in enumerate(student_objects)]
    >>> decorated.sort()
    >>> [student for grade, i, student in decorated]               # undecorate
    [('john', 'A', 15), ('jane', 'B', 12), ('dave', 'B', 10)]

This idiom works because tuples are compared lexicographically; the first items are compared; if they are the same then the second items are compared, and so on.

It is not strictly necessary in all cases to include the index i in the decorated list, but including it gives two benefits:

* The sort is stable -- if two items have the same key, their order will be preserved in the sorted list.

* The original items do not have to be comparable because the ordering of the decorated tuples will be determined by at most the first two items. So for example the original list could contain complex numbers which cannot be sorted directly.

Another name for this idiom is Schwartzian transform, after Randal L. Schwartz, who popularized it among Perl programmers.

Now that Python sorting provides key-functions, this technique is not often needed.

## Comparison Functions

Unlike key functions that return an absolute value for sorting, a comparison function computes the relative ordering for two inputs.

For example, a balance scale compares two samples giving a relative ordering: lighter, equal, or heavier. Likewise, a comparison function such as cmp(a, b) will return a negative value for less-than, zero if the inputs are equal, or a positive value for greater-than.

It is common to encounter comparison functions when translating algorithms from other languages.  Also, some libraries provide comparison functions as part of their API.  For example, locale.strcoll is a comparison function.

To accommodate those situations, Python provides functools.cmp_to_key to wrap the comparison function to make it usable as a key function:

    sorted(words, key=cmp_to_key(strcoll))  # locale-aware sort order
"""

# Python 3.11.2 docs, Doc/license.rst: "History and License" up to and including the
# PSF License Agreement (|release| = 3.11.2). PSF License. Source:
# /usr/share/doc/python3.11/html/_sources/license.rst.txt (python3.11-doc).
PSF_HISTORY_AND_LICENSE = """\
# History and License

## History of the software

Python was created in the early 1990s by Guido van Rossum at Stichting Mathematisch Centrum (CWI, see https://www.cwi.nl/) in the Netherlands as a successor of a language called ABC.  Guido remains Python's principal author, although it includes many contributions from others.

In 1995, Guido continued his work on Python at the Corporation for National Research Initiatives (CNRI, see https://www.cnri.reston.va.us/) in Reston, Virginia where he released several versions of the software.

In May 2000, Guido and the Python core development team moved to BeOpen.com to form the BeOpen PythonLabs team.  In October of the same year, the PythonLabs team moved to Digital Creations (now Zope Corporation; see https://www.zope.org/).  In 2001, the Python Software Foundation (PSF, see https://www.python.org/psf/) was formed, a non-profit organization created specifically to own Python-related Intellectual Property.  Zope Corporation is a sponsoring member of the PSF.

All Python releases are Open Source (see https://opensource.org/ for the Open Source Definition). Historically, most, but not all, Python releases have also been GPL-compatible; the table below summarizes the various releases.

| Release | Derived from | Year | Owner | GPL compatible? |
| 0.9.0 thru 1.2 | n/a | 1991-1995 | CWI | yes |
| 1.3 thru 1.5.2 | 1.2 | 1995-1999 | CNRI | yes |
| 1.6 | 1.5.2 | 2000 | CNRI | no |
| 2.0 | 1.6 | 2000 | BeOpen.com | no |
| 1.6.1 | 1.6 | 2001 | CNRI | no |
| 2.1 | 2.0+1.6.1 | 2001 | PSF | no |
| 2.0.1 | 2.0+1.6.1 | 2001 | PSF | yes |
| 2.1.1 | 2.1+2.0.1 | 2001 | PSF | yes |
| 2.1.2 | 2.1.1 | 2002 | PSF | yes |
| 2.1.3 | 2.1.2 | 2002 | PSF | yes |
| 2.2 and above | 2.1.1 | 2001-now | PSF | yes |

Note: GPL-compatible doesn't mean that we're distributing Python under the GPL.  All Python licenses, unlike the GPL, let you distribute a modified version without making your changes open source. The GPL-compatible licenses make it possible to combine Python with other software that is released under the GPL; the others don't.

Thanks to the many outside volunteers who have worked under Guido's direction to make these releases possible.

## Terms and conditions for accessing or otherwise using Python

Python software and documentation are licensed under the PSF License Agreement.

Starting with Python 3.8.6, examples, recipes, and other code in the documentation are dual licensed under the PSF License Agreement and the Zero-Clause BSD license.

Some software incorporated into Python is under different licenses. The licenses are listed with code falling under that license. See Licenses and Acknowledgements for Incorporated Software for an incomplete list of these licenses.

### PSF LICENSE AGREEMENT FOR PYTHON 3.11.2

1. This LICENSE AGREEMENT is between the Python Software Foundation ("PSF"), and the Individual or Organization ("Licensee") accessing and otherwise using Python 3.11.2 software in source or binary form and its associated documentation.

2. Subject to the terms and conditions of this License Agreement, PSF hereby grants Licensee a nonexclusive, royalty-free, world-wide license to reproduce, analyze, test, perform and/or display publicly, prepare derivative works, distribute, and otherwise use Python 3.11.2 alone or in any derivative version, provided, however, that PSF's License Agreement and PSF's notice of copyright, i.e., "Copyright © 2001-2023 Python Software Foundation; All Rights Reserved" are retained in Python 3.11.2 alone or in any derivative version prepared by Licensee.

3. In the event Licensee prepares a derivative work that is based on or incorporates Python 3.11.2 or any part thereof, and wants to make the derivative work available to others as provided herein, then Licensee hereby agrees to include in any such work a brief summary of the changes made to Python 3.11.2.

4. PSF is making Python 3.11.2 available to Licensee on an "AS IS" basis. PSF MAKES NO REPRESENTATIONS OR WARRANTIES, EXPRESS OR IMPLIED.  BY WAY OF EXAMPLE, BUT NOT LIMITATION, PSF MAKES NO AND DISCLAIMS ANY REPRESENTATION OR WARRANTY OF MERCHANTABILITY OR FITNESS FOR ANY PARTICULAR PURPOSE OR THAT THE USE OF PYTHON 3.11.2 WILL NOT INFRINGE ANY THIRD PARTY RIGHTS.

5. PSF SHALL NOT BE LIABLE TO LICENSEE OR ANY OTHER USERS OF PYTHON 3.11.2 FOR ANY INCIDENTAL, SPECIAL, OR CONSEQUENTIAL DAMAGES OR LOSS AS A RESULT OF MODIFYING, DISTRIBUTING, OR OTHERWISE USING PYTHON 3.11.2, OR ANY DERIVATIVE THEREOF, EVEN IF ADVISED OF THE POSSIBILITY THEREOF.

6. This License Agreement will automatically terminate upon a material breach of its terms and conditions.

7. Nothing in this License Agreement shall be deemed to create any relationship of agency, partnership, or joint venture between PSF and Licensee.  This License Agreement does not grant permission to use PSF trademarks or trade name in a trademark sense to endorse or promote products or services of Licensee, or any third party.

8. By copying, installing or otherwise using Python 3.11.2, Licensee agrees to be bound by the terms and conditions of this License Agreement.
"""

# Python 3.11.2 tutorial, Doc/tutorial/interpreter.rst ("Using the Python Interpreter"),
# PSF License. Source: /usr/share/doc/python3.11/html/_sources/tutorial/interpreter.rst.txt;
# cross-reference labels replaced by their titles.
TUTORIAL_INTERPRETER = """\
# Using the Python Interpreter

## Invoking the Interpreter

The Python interpreter is usually installed as /usr/local/bin/python3.11 on those machines where it is available; putting /usr/local/bin in your Unix shell's search path makes it possible to start it by typing the command:

    python3.11

to the shell. Since the choice of the directory where the interpreter lives is an installation option, other places are possible; check with your local Python guru or system administrator.  (E.g., /usr/local/python is a popular alternative location.)

On Windows machines where you have installed Python from the Microsoft Store, the python3.11 command will be available. If you have the py.exe launcher installed, you can use the py command. See setting-envvars for other ways to launch Python.

Typing an end-of-file character (Control-D on Unix, Control-Z on Windows) at the primary prompt causes the interpreter to exit with a zero exit status.  If that doesn't work, you can exit the interpreter by typing the following command: quit().

The interpreter's line-editing features include interactive editing, history substitution and code completion on systems that support the GNU Readline library. Perhaps the quickest check to see whether command line editing is supported is typing Control-P to the first Python prompt you get.  If it beeps, you have command line editing; see Appendix Interactive Input Editing and History Substitution for an introduction to the keys.  If nothing appears to happen, or if ^P is echoed, command line editing isn't available; you'll only be able to use backspace to remove characters from the current line.

The interpreter operates somewhat like the Unix shell: when called with standard input connected to a tty device, it reads and executes commands interactively; when called with a file name argument or with a file as standard input, it reads and executes a script from that file.

A second way of starting the interpreter is python -c command [arg] ..., which executes the statement(s) in command, analogous to the shell's -c option.  Since Python statements often contain spaces or other characters that are special to the shell, it is usually advised to quote command in its entirety.

Some Python modules are also useful as scripts.  These can be invoked using python -m module [arg] ..., which executes the source file for module as if you had spelled out its full name on the command line.

When a script file is used, it is sometimes useful to be able to run the script and enter interactive mode afterwards.  This can be done by passing -i before the script.

All command line options are described in Command line and environment.

### Argument Passing

When known to the interpreter, the script name and additional arguments thereafter are turned into a list of strings and assigned to the argv variable in the sys module.  You can access this list by executing import sys.  The length of the list is at least one; when no script and no arguments are given, sys.argv[0] is an empty string.  When the script name is given as '-' (meaning  standard input), sys.argv[0] is set to '-'.  When -c command is used, sys.argv[0] is set to '-c'.  When -m module is used, sys.argv[0]  is set to the full name of the located module.  Options found after  -c command or -m module are not consumed  by the Python interpreter's option processing but left in sys.argv for  the command or module to handle.

### Interactive Mode

When commands are read from a tty, the interpreter is said to be in interactive mode.  In this mode it prompts for the next command with the primary prompt, usually three greater-than signs (>>>); for continuation lines it prompts with the secondary prompt, by default three dots (...). The interpreter prints a welcome message stating its version number and a copyright notice before printing the first prompt:

    $ python3.11
    Python 3.11 (default, April 4 2021, 09:25:04)
    [GCC 10.2.0] on linux
    Type "help", "copyright", "credits" or "license" for more information.
    >>>

Continuation lines are needed when entering a multi-line construct. As an example, take a look at this if statement:

    >>> the_world_is_flat = True
    >>> if the_world_is_flat:
    ...     print("Be careful not to fall off!")
    ...
    Be careful not to fall off!

For more on interactive mode, see Interactive Mode.

## The Interpreter and Its Environment

### Source Code Encoding

By default, Python source files are treated as encoded in UTF-8.  In that encoding, characters of most languages in the world can be used simultaneously in string literals, identifiers and comments --- although the standard library only uses ASCII characters for identifiers, a convention that any portable code should follow.  To display all these characters properly, your editor must recognize that the file is UTF-8, and it must use a font that supports all the characters in the file.

To declare an encoding other than the default one, a special comment line should be added as the first line of the file.  The syntax is as follows:

    # -*- coding: encoding -*-

where encoding is one of the valid codecs supported by Python.

For example, to declare that Windows-1252 encoding is to be used, the first line of your source code file should be:

    # -*- coding: cp1252 -*-

One exception to the first line rule is when the source code starts with a UNIX "shebang" line.  In this case, the encoding declaration should be added as the second line of the file.  For example:

    #!/usr/bin/env python3
    # -*- coding: cp1252 -*-

Footnotes

On Unix, the Python 3.x interpreter is by default not installed with the executable named python, so that it does not conflict with a simultaneously installed Python 2.x executable.
"""

# Python 3.11.2 docs, Doc/bugs.rst ("Dealing with Bugs"), PSF License, rendered as
# plain text wrapped at 72 columns. Source: /usr/share/doc/python3.11/html/_sources/bugs.rst.txt.
BUGS_ARTICLE = """\
Dealing with Bugs
=================

Python is a mature programming language which has established a
reputation for stability. In order to maintain this reputation, the
developers would like to know of any deficiencies you find in Python.

It can be sometimes faster to fix bugs yourself and contribute patches
to Python as it streamlines the process and involves less people. Learn
how to contribute.

Documentation bugs
------------------

If you find a bug in this documentation or would like to propose an
improvement, please submit a bug report on the tracker. If you have a
suggestion on how to fix it, include that as well.

You can also open a discussion item on our Documentation Discourse
forum.

If you're short on time, you can also email documentation bug reports to
docs@python.org (behavioral bugs can be sent to python-list@python.org).
'docs@' is a mailing list run by volunteers; your request will be
noticed, though it may take a while to be processed.

  Documentation bugs
      A list of documentation bugs that have been submitted to the
      Python issue tracker.

  Issue Tracking
      Overview of the process involved in reporting an improvement on
      the tracker.

  Helping with Documentation
      Comprehensive guide for individuals that are interested in
      contributing to Python documentation.

  Documentation Translations
      A list of GitHub pages for documentation translation and their
      primary contacts.

Using the Python issue tracker
------------------------------

Issue reports for Python itself should be submitted via the GitHub
issues tracker (https://github.com/python/cpython/issues). The GitHub
issues tracker offers a web form which allows pertinent information to
be entered and submitted to the developers.

The first step in filing a report is to determine whether the problem
has already been reported. The advantage in doing so, aside from saving
the developers' time, is that you learn what has been done to fix it; it
may be that the problem has already been fixed for the next release, or
additional information is needed (in which case you are welcome to
provide it if you can!). To do this, search the tracker using the search
box at the top of the page.

If the problem you're reporting is not already in the list, log in to
GitHub. If you don't already have a GitHub account, create a new account
using the "Sign up" link. It is not possible to submit a bug report
anonymously.

Being now logged in, you can submit an issue. Click on the "New issue"
button in the top bar to report a new issue.

The submission form has two fields, "Title" and "Comment".

For the "Title" field, enter a very short description of the problem;
less than ten words is good.

In the "Comment" field, describe the problem in detail, including what
you expected to happen and what did happen. Be sure to include whether
any extension modules were involved, and what hardware and software
platform you were using (including version information as appropriate).

Each issue report will be reviewed by a developer who will determine
what needs to be done to correct the problem. You will receive an update
each time an action is taken on the issue.

  How to Report Bugs Effectively
      Article which goes into some detail about how to create a useful
      bug report. This describes what kind of information is useful and
      why it is useful.

  Bug Writing Guidelines
      Information about writing a good bug report.  Some of this is
      specific to the Mozilla project, but describes general good
      practices.

Getting started contributing to Python yourself
-----------------------------------------------

Beyond just reporting bugs that you find, you are also welcome to submit
patches to fix them. You can find more information on how to get started
patching Python in the Python Developer's Guide. If you have questions,
the core-mentorship mailing list is a friendly place to get answers to
any and all questions pertaining to the process of fixing issues in
Python.
"""

# French manual page dpkg-name(1) from dpkg 1.21.22 (Debian bookworm), GPL-2+,
# translation by Ariel Vardi, Philippe Batailler, Nicolas François. Rendered with
# `MANWIDTH=72 man -l /usr/share/man/fr/man1/dpkg-name.1.gz | col -bx`; the only
# change: one EN DASH (U+2013) replaced by "-" so that the text fits ISO-8859-1.
DPKG_NAME_FR = """\
dpkg-name(1)                  dpkg suite                  dpkg-name(1)

NOM
       dpkg-name - Redonne aux paquets Debian leur nom complet

SYNOPSIS
       dpkg-name [option...] [--] fichier...

DESCRIPTION
       Cette page de manuel documente le programme dpkg-name qui
       fournit une façon simple de redonner aux paquets Debian leur
       nom complet. Ce nom consiste en une chaîne
       paquet_version_architecture.type-de-paquet telle qu'elle est
       indiquée dans le fichier « control » du paquet. La partie
       version du nom est composée d'informations sur la version
       originelle qui peuvent ou non être suivies d'un trait d'union
       et d'informations sur la révision. La partie type-de-paquet
       provient de ce champ s'il existe. La valeur par défaut est deb.

OPTIONS
       -a, --no-architecture
           Le nom du fichier n'aura pas l'information sur
           l'architecture.

       -k, --symlink
           Fait un lien symbolique plutôt qu'une transposition.

       -o, --overwrite
           Remplace des fichiers existants s'ils ont le même nom que
           le fichier de destination.

       -s, --subdir [rep]
           Met les fichiers dans un sous-répertoire. Si le répertoire
           donné en paramètre existe, les fichiers sont déplacés dans
           ce répertoire ; sinon le répertoire cible, extrait du champ
           « section » que contient la partie contrôle du paquet, sera
           « unstable/binary-architecture/section ». Quand aucune
           information sur la section n'est trouvée dans le fichier
           « control », la section est supposée être no-section. Dans
           ce cas, ainsi que si la section est non-free ou contrib, le
           répertoire cible est « section/binary-architecture ». Le
           champ « section » est facultatif ; aussi beaucoup de
           paquets sont dans la zone « no-section ».

           Attention : Utilisez cette option avec précaution : elle
           est compliquée.

       -c, --create-dir
           On peut utiliser cette option avec l'option -s. Quand un
           répertoire cible n'est pas trouvé, il est créé
           automatiquement.

           Attention : Utilisez cette option avec précaution.

       -?, --help
           Afficher un message d'aide puis quitter.

       -v, --version
           Afficher le numéro de version puis quitter.

ENVIRONNEMENT
       DPKG_COLORS
           Définit le mode de couleur (depuis dpkg 1.18.5). Les
           valeurs actuellement acceptées sont auto (par défaut),
           always et never.

       DPKG_NLS
           Si cette variable est définie, elle sera utilisée pour
           décider l'activation de la prise en charge des langues (NLS
           - Native Language Support), connu aussi comme la gestion de
           l'internationalisation (ou i18n) (depuis dpkg 1.19.0). Les
           valeurs permises sont : 0 et 1 (par défaut).

BOGUES
       Certains paquets ne respectent pas l'organisation
       paquet_version_architecture.deb. Les paquets traités par dpkg-
       name la respectent. Cela n'a pas de conséquence sur la façon
       dont dselect(1) ou dpkg(1) installent les paquets, mais il se
       peut que d'autres systèmes d'installation aient besoin de cette
       organisation.

EXEMPLES
       dpkg-name bar-toto.deb
           Le nom du fichier bar-toto.deb devient
           bar-toto_1.0-2_i386.deb ou quelque chose de similaire
           suivant les renseignements que contient la partie de
           contrôle de bar-toto.deb.

       find /root/debian/ -name '*.deb' | xargs -n 1 dpkg-name -a
           Cette commande dpkg-name redonne leur nom complet à tous
           les fichiers qui se trouvent dans le répertoire
           /root/debian et ses sous-répertoires et qui possèdent une
           extension deb, mais supprime l'information sur
           l'architecture.

       find -name '*.deb' | xargs -n 1 dpkg-name -a -o -s -c
           Ne faites pas ça ! L'archive sera complètement gâchée par
           des paquets qui ne possèdent pas d'informations sur la
           section. Ne faites pas ça !

       dpkg-deb --build debian-tmp && dpkg-name -o -s ..
       debian-tmp.deb
           On peut se servir de cette commande lors de la construction
           d'un nouveau paquet.

VOIR AUSSI
       deb(5), deb-control(5), dpkg(1), dpkg-deb(1), find(1),
       xargs(1).

TRADUCTION
       Ariel VARDI <ariel.vardi@freesbee.fr>, 2002. Philippe
       Batailler, 2006. Nicolas François, 2006. Veuillez signaler
       toute erreur à <debian-l10n-french@lists.debian.org>.

1.21.22                       2023-05-11                  dpkg-name(1)
"""

# Python 3.11.2 tutorial, Doc/tutorial/interactive.rst ("Interactive Input Editing and
# History Substitution"), PSF License. Used for bad/corrupt.pdf.
TUTORIAL_INTERACTIVE = """\
# Interactive Input Editing and History Substitution

Some versions of the Python interpreter support editing of the current input line and history substitution, similar to facilities found in the Korn shell and the GNU Bash shell. This is implemented using the GNU Readline library, which supports various styles of editing. This library has its own documentation which we won't duplicate here.

## Tab Completion and History Editing

Completion of variable and module names is automatically enabled at interpreter startup so that the Tab key invokes the completion function; it looks at Python statement names, the current local variables, and the available module names. For dotted expressions such as string.a, it will evaluate the expression up to the final '.' and then suggest completions from the attributes of the resulting object. Note that this may execute application-defined code if an object with a __getattr__ method is part of the expression. The default configuration also saves your history into a file named .python_history in your user directory. The history will be available again during the next interactive interpreter session.

## Alternatives to the Interactive Interpreter

This facility is an enormous step forward compared to earlier versions of the interpreter; however, some wishes are left: It would be nice if the proper indentation were suggested on continuation lines (the parser knows if an indent token is required next). The completion mechanism might use the interpreter's symbol table. A command to check (or even suggest) matching parentheses, quotes, etc., would also be useful.

One alternative enhanced interactive interpreter that has been around for quite some time is IPython, which features tab completion, object exploration and advanced history management. It can also be thoroughly customized and embedded into other applications. Another similar enhanced interactive environment is bpython.
"""

# Python 3.11.2 docs, Doc/copyright.rst and the "Zero-Clause BSD license for code in the
# Python documentation" from Doc/license.rst. Used for bad/encrypted.pdf.
COPYRIGHT_AND_BSD0 = """\
# Copyright

Python and this documentation is:

Copyright \u00a9 2001-2023 Python Software Foundation. All rights reserved.

Copyright \u00a9 2000 BeOpen.com. All rights reserved.

Copyright \u00a9 1995-2000 Corporation for National Research Initiatives. All rights reserved.

Copyright \u00a9 1991-1995 Stichting Mathematisch Centrum. All rights reserved.

## Zero-Clause BSD License for code in the Python 3.11.2 documentation

Permission to use, copy, modify, and/or distribute this software for any purpose with or without fee is hereby granted.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.
"""

# "The Zen of Python" by Tim Peters (PEP 20, public domain; `python3 -m this`).
# Used as the picture of a printed page in bad/scanned.pdf and edge/partly_scanned.pdf.
ZEN_OF_PYTHON = """\
The Zen of Python, by Tim Peters

Beautiful is better than ugly.
Explicit is better than implicit.
Simple is better than complex.
Complex is better than complicated.
Flat is better than nested.
Sparse is better than dense.
Readability counts.
Special cases aren't special enough to break the rules.
Although practicality beats purity.
Errors should never pass silently.
Unless explicitly silenced.
In the face of ambiguity, refuse the temptation to guess.
There should be one-- and preferably only one --obvious way to do it.
Although that way may not be obvious at first unless you're Dutch.
Now is better than never.
Although never is often better than *right* now.
If the implementation is hard to explain, it's a bad idea.
If the implementation is easy to explain, it may be a good idea.
Namespaces are one honking great idea -- let's do more of those!
"""

# Python 3.11.2 glossary (Doc/glossary.rst), PSF License: entries "docstring" and
# "bytes-like object". Text layer of page 1 of edge/partly_scanned.pdf.
GLOSSARY_DOCSTRING = """\
# Glossary

## docstring

A string literal which appears as the first expression in a class, function or module. While ignored when the suite is executed, it is recognized by the compiler and put into the __doc__ attribute of the enclosing class, function or module. Since it is available via introspection, it is the canonical place for documentation of the object.

## bytes-like object

An object that supports the Buffer Protocol and can export a C-contiguous buffer. This includes all bytes, bytearray, and array.array objects, as well as many common memoryview objects. Bytes-like objects can be used for various operations that work with binary data; these include compression, saving to a binary file, and sending over a socket.
"""

# Python 3.11.2 glossary entries "text encoding", "text file" and "binary file"
# (PSF License). Base text of encoding/invalid_utf8.txt.
GLOSSARY_ENCODING = """\
text encoding
    A string in Python is a sequence of Unicode code points (in range
    U+0000\u2013U+10FFFF). To store or transfer a string, it needs to be
    serialized as a sequence of bytes.

    Serializing a string into a sequence of bytes is known as "encoding", and
    recreating the string from the sequence of bytes is known as "decoding".

    There are a variety of different text serialization codecs, which are
    collectively referred to as "text encodings".

text file
    A file object able to read and write str objects. Often, a text file
    actually accesses a byte-oriented datastream and handles the text
    encoding automatically. Examples of text files are files opened in text
    mode ('r' or 'w'), sys.stdin, sys.stdout, and instances of io.StringIO.

    See also binary file for a file object able to read and write bytes-like
    objects.

binary file
    A file object able to read and write bytes-like objects. Examples of
    binary files are files opened in binary mode ('rb', 'wb' or 'rb+'),
    sys.stdin.buffer, sys.stdout.buffer, and instances of io.BytesIO and
    gzip.GzipFile.

    See also text file for a file object able to read and write str objects.
"""

# Python 3.11.2 glossary entries "universal newlines" and "EAFP" (PSF License).
# Base text of encoding/utf8_bom_crlf.txt.
GLOSSARY_NEWLINES = """\
universal newlines
    A manner of interpreting text streams in which all of the following are
    recognized as ending a line: the Unix end-of-line convention '\\n', the
    Windows convention '\\r\\n', and the old Macintosh convention '\\r'. See
    PEP 278 and PEP 3116, as well as bytes.splitlines() for an additional use.

EAFP
    Easier to ask for forgiveness than permission. This common Python coding
    style assumes the existence of valid keys or attributes and catches
    exceptions if the assumption proves false. This clean and fast style is
    characterized by the presence of many try and except statements. The
    technique contrasts with the LBYL style common to many other languages
    such as C.
"""

# Python 3.11.2 "Unicode HOWTO" (Doc/howto/unicode.rst, A. M. Kuchling), sections
# "Comparing Strings" (abridged: the second code sample is left out) and
# "Acknowledgements", PSF License, as Markdown. Written NFD-decomposed with
# control characters added -> encoding/unicode_nfd_controls.md.
UNICODE_HOWTO_NFC = """\
# Unicode HOWTO

## Comparing Strings

Unicode adds some complication to comparing strings, because the same set of characters can be represented by different sequences of code points. For example, a letter like '\u00ea' can be represented as a single code point U+00EA, or as U+0065 U+0302, which is the code point for 'e' followed by a code point for 'COMBINING CIRCUMFLEX ACCENT'. These will produce the same output when printed, but one is a string of length 1 and the other is of length 2.

One tool for a case-insensitive comparison is the `casefold()` string method that converts a string to a case-insensitive form following an algorithm described by the Unicode Standard. This algorithm has special handling for characters such as the German letter '\u00df' (code point U+00DF), which becomes the pair of lowercase letters 'ss'.

```
>>> street = 'G\u00fcrzenichstra\u00dfe'
>>> street.casefold()
'g\u00fcrzenichstrasse'
```

A second tool is the `unicodedata` module's `normalize()` function that converts strings to one of several normal forms, where letters followed by a combining character are replaced with single characters. `normalize()` can be used to perform string comparisons that won't falsely report inequality if two strings use combining characters differently.

The first argument to the `normalize()` function is a string giving the desired normalization form, which can be one of 'NFC', 'NFKC', 'NFD', and 'NFKD'.

## Acknowledgements

The initial draft of this document was written by Andrew Kuchling. It has since been revised further by Alexander Belopolsky, Georg Brandl, Andrew Kuchling, and Ezio Melotti.

Thanks to the following people who have noted errors or offered suggestions on this article: \u00c9ric Araujo, Nicholas Bastin, Nick Coghlan, Marius Gedminas, Kent Johnson, Ken Krugler, Marc-Andr\u00e9 Lemburg, Martin von L\u00f6wis, Terry J. Reedy, Serhiy Storchaka, Eryk Sun, Chad Whitacre, Graham Wideman.
"""

# Python 3.11.2 glossary entry "nested scope" and lines of the Zen of Python.
# Text of edge/deep_nested.html (top / innermost / bottom).
DEEP_TOP = ("nested scope: The ability to refer to a variable in an enclosing definition. "
            "For instance, a function defined inside another function can refer to "
            "variables in the outer function.")
DEEP_INNER = "Flat is better than nested. Sparse is better than dense."
DEEP_BOTTOM = ("Note that nested scopes by default work only for reference and not for "
               "assignment. Local variables both read and write in the innermost scope. "
               "Likewise, global variables read and write to the global namespace. "
               "The nonlocal statement allows writing to outer scopes.")

# French manual page dpkg-realpath(1), section DESCRIPTION (dpkg 1.21.22, GPL-2+).
# The one non-English record of good/records.jsonl.
DPKG_REALPATH_FR = (
    "dpkg-realpath est un outil (depuis dpkg 1.20.1) pour r\u00e9soudre un nom de chemin qui "
    "prend en compte le r\u00e9pertoire racine de dpkg(1), soit de fa\u00e7on implicite \u00e0 partir "
    "de la variable d'environnement DPKG_ROOT ou \u00e0 partir des options --root ou --instdir "
    "en ligne de commande, et renvoie un chemin absolu relatif au r\u00e9pertoire racine. Le "
    "r\u00e9pertoire racine ne doit pas \u00eatre pr\u00e9fix\u00e9 du chemin \u00e0 r\u00e9soudre.\n\n"
    "Cela est destin\u00e9 \u00e0 \u00eatre utilis\u00e9 par d'autres assistants de dpkg ou par les "
    "scripts du responsable \u00e0 la place de l'utilisation de realpath(1) ou readlink(1) pour "
    "des noms de chemins canoniques dans la mesure o\u00f9 ces derni\u00e8res commandes ne g\u00e8rent "
    "pas des chemins canoniques relatifs \u00e0 une racine autre que /."
)

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def _write(path: Path, data: bytes | str, *, encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode(encoding)
    path.write_bytes(data)
    print(f"  wrote {path.relative_to(ROOT)} ({len(data):,} bytes)")


@contextlib.contextmanager
def _seeded_secrets(seed: int):
    """Make pypdf's random file ID, AES keys and IVs reproducible while encrypting."""
    rng = random.Random(seed)
    original = secrets.token_bytes
    secrets.token_bytes = lambda n=32: bytes(rng.getrandbits(8) for _ in range(n or 32))
    try:
        yield
    finally:
        secrets.token_bytes = original


def _reportlab_setup() -> None:
    from reportlab import rl_config

    rl_config.invariant = 1  # no timestamps / random document IDs
    rl_config.useA85 = 0  # plain binary Flate streams (smaller files)


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _flowables(text: str):
    """Turn the mini markup (see "Source texts") into reportlab flowables."""
    from reportlab.lib import colors
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, Preformatted, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    heading = {"#": styles["Title"], "##": styles["Heading2"], "###": styles["Heading3"]}
    out = []
    for block in re.split(r"\n\s*\n", text.strip("\n")):
        lines = block.split("\n")
        first = lines[0]
        m = re.match(r"(#{1,3}) (.*)", first)
        if m and len(lines) == 1:
            out.append(Paragraph(_esc(m.group(2)), heading[m.group(1)]))
        elif all(line.startswith("    ") for line in lines):
            out.append(Preformatted("\n".join(line[4:] for line in lines), styles["Code"]))
        elif all(line.startswith("| ") for line in lines):
            rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
            out.append(Spacer(1, 4))
            table = Table(rows, hAlign="LEFT")
            table.setStyle(TableStyle([
                ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 9),
                ("FONT", (0, 1), (-1, -1), "Helvetica", 9),
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
            ]))
            out.append(table)
            out.append(Spacer(1, 6))
        elif first.startswith("* "):
            body = " ".join(line.strip() for line in lines)[2:]
            out.append(Paragraph(_esc(body), styles["BodyText"], bulletText="\u2022"))
        else:
            out.append(Paragraph(_esc(" ".join(line.strip() for line in lines)), styles["BodyText"]))
    return out


def text_pdf(text: str, *, title: str, author: str, subject: str, running_head: str) -> bytes:
    """A normal, text-layer PDF: headings, paragraphs, code, tables, page header/footer."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import cm
    from reportlab.platypus import SimpleDocTemplate

    def decorate(canvas, doc):
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.drawString(2 * cm, A4[1] - 1.2 * cm, running_head)
        canvas.drawRightString(A4[0] - 2 * cm, 1.2 * cm, f"Page {doc.page}")
        canvas.restoreState()

    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf, pagesize=A4, title=title, author=author, subject=subject,
        creator="ragline scripts/make_fixtures.py", invariant=1,
        leftMargin=2 * cm, rightMargin=2 * cm, topMargin=2 * cm, bottomMargin=2 * cm,
    )
    doc.build(_flowables(text), onFirstPage=decorate, onLaterPages=decorate)
    return buf.getvalue()


def _scan_image(lines: list[str], seed: int):
    """A grey-scale 'photocopy' of printed lines: bitmap only, no text layer."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("L", (850, 1100), 255)  # ~100 dpi on A4-ish paper
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=21)
    y = 90
    for line in lines:
        draw.text((80, y), line, fill=25, font=font)
        y += 34
    rng = random.Random(seed)
    for _ in range(600):  # toner speckles
        x, yy = rng.randrange(850), rng.randrange(1100)
        draw.point((x, yy), fill=rng.randrange(60, 200))
    draw.rectangle((40, 40, 810, 1060), outline=170, width=2)
    return img.rotate(0.7, resample=Image.NEAREST, fillcolor=255)  # slightly skewed


def _draw_scan_page(c, lines: list[str], seed: int) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader

    c.drawImage(ImageReader(_scan_image(lines, seed)), 0, 0, width=A4[0], height=A4[1])
    c.showPage()


def _draw_shapes_page(c) -> None:
    """Vector drawing only (a blank form: boxes, rules, a bar chart) -- no text objects."""
    from reportlab.lib.pagesizes import A4

    w, h = A4
    c.setLineWidth(1)
    c.rect(50, 50, w - 100, h - 100)
    for i in range(12):
        y = h - 150 - i * 40
        c.line(80, y, w - 80, y)
    for i, v in enumerate([120, 200, 90, 260, 170, 230]):
        c.setFillGray(0.3 + 0.1 * (i % 3))
        c.rect(100 + i * 65, 120, 40, v, fill=1, stroke=0)
    c.setFillGray(0)
    c.circle(w - 130, h - 110, 25)
    c.showPage()


def _text_page(c, text: str) -> None:
    """One page of plain wrapped text drawn directly on a canvas."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import simpleSplit

    y = A4[1] - 72
    for block in text.strip().split("\n\n"):
        head = block.startswith("#")
        font, size = ("Helvetica-Bold", 14) if head else ("Helvetica", 11)
        for line in simpleSplit(block.lstrip("# "), font, size, A4[0] - 144):
            c.setFont(font, size)
            c.drawString(72, y, line)
            y -= size + 4
        y -= 8
    c.showPage()


def _canvas_pdf(draw_pages, *, title: str) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen.canvas import Canvas

    buf = io.BytesIO()
    c = Canvas(buf, pagesize=A4, invariant=1)
    c.setTitle(title)
    c.setCreator("ragline scripts/make_fixtures.py")
    draw_pages(c)
    c.save()
    return buf.getvalue()


def encrypt_pdf(data: bytes, user_password: str, owner_password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    with _seeded_secrets(1234):
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
        writer.encrypt(user_password=user_password, owner_password=owner_password,
                       algorithm="AES-128")
        out = io.BytesIO()
        writer.write(out)
    return out.getvalue()


def corrupt_pdf(data: bytes, seed: int = 7) -> bytes:
    """Truncate a real PDF at 45% (no xref, no trailer, no %%EOF) and garble bytes
    inside the object area, as a broken download / disk error would."""
    rng = random.Random(seed)
    cut = bytearray(data[: int(len(data) * 0.45)])
    for frac in (0.15, 0.30, 0.40):  # three 64-byte windows of noise
        start = int(len(cut) * frac)
        cut[start:start + 64] = bytes(rng.getrandbits(8) for _ in range(64))
    return bytes(cut)


def reflow(text: str, width: int = 52) -> str:
    """Same words, different whitespace: re-wrap paragraphs, add trailing spaces,
    double blank lines and indentation changes. Collapsing all whitespace runs to
    one space gives back exactly the same string as for the input."""
    out = []
    for i, block in enumerate(text.strip("\n").split("\n\n")):
        lines = block.split("\n")
        if len(lines) == 2 and set(lines[1]) <= set("=-"):
            out.append(block)  # keep setext headings as they are
            continue
        words = block.split()
        wrapped = textwrap.wrap(" ".join(words), width, break_long_words=False,
                                break_on_hyphens=False)
        if i % 3 == 1:
            wrapped = [w + "   " for w in wrapped]  # trailing spaces
        if i % 4 == 2:
            wrapped = ["\t" + w for w in wrapped]  # tab indentation
        out.append("\n".join(wrapped))
    return "\n\n\n".join(out) + "\n"


def _collapse(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


# ---------------------------------------------------------------------------
# Demo corpus
# ---------------------------------------------------------------------------

def build_samples(cranfield: Path | None) -> None:
    print("samples/corpus:")
    _write(SAMPLES / "papers" / "sorting-howto.pdf", text_pdf(
        SORTING_HOWTO, title="Sorting HOW TO", author="Andrew Dalke and Raymond Hettinger",
        subject="Python 3.11 documentation (HOWTO)",
        running_head="Python 3.11.2 documentation \u00bb Python HOWTOs \u00bb Sorting HOW TO"))
    _write(SAMPLES / "licences" / "psf-history-and-license.pdf", text_pdf(
        PSF_HISTORY_AND_LICENSE, title="History and License", author="Python Software Foundation",
        subject="Python 3.11 documentation",
        running_head="Python 3.11.2 documentation \u00bb History and License"))
    if cranfield is not None:
        docs, queries, qrels = _load_cranfield(cranfield)
        records = []
        for q in queries:  # top-graded relevant abstracts of the first queries, <= 1,000 chars
            picked = [d for s, d in sorted(qrels.get(q["_id"], []), key=lambda x: (-x[0], int(x[1])))
                      if s >= 3 and 0 < len(docs[d]["text"]) <= 1000
                      and d not in {r["id"] for r in records}]
            if len(picked) >= 2:
                records += [{"id": d, "title": docs[d]["title"], "text": docs[d]["text"],
                             "source": "cranfield"} for d in picked[:3]]
            if len(records) >= 40:
                break
        _write(SAMPLES / "data" / "cranfield-40.jsonl",
               "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records[:40]))


def _load_cranfield(folder: Path):
    docs = {}
    with open(folder / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            docs[d["_id"]] = d
    with open(folder / "queries.jsonl", encoding="utf-8") as f:
        queries = [json.loads(line) for line in f]
    qrels: dict[str, list[tuple[int, str]]] = {}
    with open(folder / "qrels" / "test.tsv", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels.setdefault(row["query-id"], []).append((int(row["score"]), row["corpus-id"]))
    return docs, queries, qrels


# ---------------------------------------------------------------------------
# Test fixtures
# ---------------------------------------------------------------------------

def write_utf16_utf32_fixtures(enc: Path, edge: Path) -> None:
    """UTF-16 and UTF-32 with a BOM, both byte orders, one per parser that reads text; each holds
    a text no other ingested fixture holds (so none is a duplicate). Needs no third-party package:
    ``python -c "import sys; sys.path[:0] = ['scripts']; import make_fixtures as m;
    m.write_utf16_utf32_fixtures(m.FIXTURES / 'encoding', m.FIXTURES / 'edge')"``."""
    entries = GLOSSARY_ENCODING.split("\n\n")
    text_encoding = "\n\n".join(entries[:3]) + "\n"        # "text encoding" entry
    binary_file = "\n\n".join(entries[-2:])                  # "binary file" entry
    # Sections of chapters whose own fixtures are PDFs that never ingest (corrupt / encrypted).
    md = TUTORIAL_INTERACTIVE.split("\n\n## ", 2)
    markdown = md[0] + "\n\n## " + md[1] + "\n\nNa\u00efve caf\u00e9 \u2014 \u201cquotes\u201d \U0001F40D\n"
    copyright_lines = [line for line in COPYRIGHT_AND_BSD0.split("\n\n")[1:6] if line.strip()]
    html = ("<!DOCTYPE html>\n<html><head><title>Copyright \u2014 UTF-32 LE</title></head><body><main>\n"
            "<h1>Copyright</h1>\n" + "".join(f"<p>{_esc(line)}</p>\n" for line in copyright_lines)
            + "<p>r\u00e9sum\u00e9 \u2603 \U0001F40D</p>\n</main></body></html>\n")
    _write(enc / "utf16le_bom.txt", "\ufeff" + text_encoding.replace("\n", "\r\n"), encoding="utf-16-le")
    _write(enc / "utf16be_bom.md", "\ufeff" + markdown, encoding="utf-16-be")
    _write(enc / "utf32le_bom.html", "\ufeff" + html, encoding="utf-32-le")
    _write(enc / "utf32be_bom.txt", "\ufeff" + binary_file, encoding="utf-32-be")
    rows = [{"id": "utf16-1", "text": "Beautiful is better than ugly. Caf\u00e9 \U0001F40D", "lang": "en"},
            {"id": 2, "text": "Explicit is better than implicit.", "lang": "en"}]
    _write(edge / "utf16le_bom.jsonl", "\ufeff" + "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
           encoding="utf-16-le")


def build_fixtures(cranfield: Path | None) -> None:
    print("tests/fixtures/corpus:")
    F = FIXTURES

    # -- good ---------------------------------------------------------------
    _write(F / "good" / "tutorial-interpreter.pdf", text_pdf(
        TUTORIAL_INTERPRETER, title="Using the Python Interpreter", author="Python Software Foundation",
        subject="The Python Tutorial, chapter 2",
        running_head="Python 3.11.2 documentation \u00bb The Python Tutorial \u00bb 2. Using the Python Interpreter"))
    if cranfield is not None:
        docs, _, _ = _load_cranfield(cranfield)
        short = [d for d in sorted(docs.values(), key=lambda d: int(d["_id"]))
                 if 200 <= len(d["text"]) <= 450][:4]
        records = [{"id": d["_id"], "title": d["title"], "text": d["text"], "lang": "en",
                    "source": "cranfield"} for d in short]
        records.append({"id": "dpkg-realpath-fr", "text": DPKG_REALPATH_FR, "lang": "fr",
                        "source": "debian-manpage"})  # no title: the field is optional
        _write(F / "good" / "records.jsonl",
               "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))

    # -- duplicates ---------------------------------------------------------
    src = F / "good" / "bsd-license.txt"
    if src.exists():  # committed copy of /usr/share/common-licenses/BSD
        _write(F / "duplicates" / "exact" / "bsd-license-copy.txt", src.read_bytes())
    header = "Python 3.11.2 documentation \u00bb Dealing with Bugs\n\n"
    footer = "\n\u00a9 Copyright 2001-2023, Python Software Foundation. Last updated on Mar 13, 2023.\n"
    footer2 = "\n\u00a9 Copyright 2001-2023, Python Software Foundation. Last updated on Jun 06, 2023.\n"
    article = header + BUGS_ARTICLE + footer
    reflowed = reflow(article)
    assert _collapse(reflowed) == _collapse(article)
    near = F / "duplicates" / "near"
    _write(near / "bugs-article.txt", article)
    _write(near / "bugs-article-new-footer.txt", header + BUGS_ARTICLE + footer2)
    _write(near / "bugs-article-reflowed.txt", reflowed)

    # -- encoding -----------------------------------------------------------
    enc = F / "encoding"
    assert all(not 0x80 <= ord(ch) <= 0x9F for ch in DPKG_NAME_FR)
    _write(enc / "latin1.txt", DPKG_NAME_FR, encoding="latin-1")

    good = GLOSSARY_ENCODING.encode("utf-8")
    paras = good.split(b"\n\n")
    bad = [  # invalid sequences spliced in at word boundaries
        paras[0].replace(b"sequence of bytes.", b"sequence of bytes \xff\xfe\xc3\x28."),
        paras[1].replace(b'"decoding".', b'"decoding" \x80.'),
        paras[2],
        paras[3].replace(b"str objects.", b"str \xc0\xaf objects."),
        *paras[4:-1],
        paras[-1].rstrip(b"\n") + b" \xe2\x82\n",  # truncated 3-byte sequence at EOF
    ]
    _write(enc / "invalid_utf8.txt", b"\n\n".join(bad))

    _write(enc / "utf8_bom_crlf.txt", "\ufeff" + GLOSSARY_NEWLINES.replace("\n", "\r\n"))
    write_utf16_utf32_fixtures(enc, F / "edge")

    nfd = unicodedata.normalize("NFD", UNICODE_HOWTO_NFC)
    assert nfd != UNICODE_HOWTO_NFC and unicodedata.normalize("NFC", nfd) == UNICODE_HOWTO_NFC
    for old, new in [  # control characters, each next to a space or newline
        ("Unicode adds some ", "Unicode adds some\x07 "),
        ("sequences of code points.", "sequences of code\x7f points."),
        ("\nOne tool for", "\n\x01One tool for"),
        ("\n## Acknowledgements", "\x0c\n## Acknowledgements"),
        ("the other is of length 2.", "the other is of\x0b length 2."),
        ("\nThanks to the following", "\n\x1bThanks to the following"),
        ("desired normalization form,", "desired\x08 normalization form,"),
    ]:
        old, new = unicodedata.normalize("NFD", old), unicodedata.normalize("NFD", new)
        assert nfd.count(old) == 1, old
        nfd = nfd.replace(old, new)
    _write(enc / "unicode_nfd_controls.md", nfd)

    # -- edge ---------------------------------------------------------------
    edge = F / "edge"

    def partly(c):
        _text_page(c, GLOSSARY_DOCSTRING)
        _draw_scan_page(c, ZEN_OF_PYTHON.splitlines(), seed=2)
    _write(edge / "partly_scanned.pdf", _canvas_pdf(partly, title="Glossary (partly scanned)"))

    depth = 5000
    html = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<title>Deeply nested document</title>\n</head>\n<body>\n"
        f"<p id=\"top\">{DEEP_TOP}</p>\n"
        + "<div>" * depth + f"<p id=\"inner\">{DEEP_INNER}</p>" + "</div>" * depth
        + f"\n<p id=\"bottom\">{DEEP_BOTTOM}</p>\n</body>\n</html>\n"
    )
    _write(edge / "deep_nested.html", html)

    zen = [z for z in ZEN_OF_PYTHON.splitlines()[2:]]
    jl = [
        json.dumps({"id": "zen-1", "text": zen[0] + " " + zen[1], "lang": "en"}),
        "",                                                   # blank line
        '{"id": "zen-2", "text": "' + zen[2],                 # truncated JSON
        json.dumps(["not", "an", "object"]),                  # not an object
        json.dumps({"id": "zen-3", "title": zen[3]}),         # no "text"
        json.dumps({"id": "zen-4", "text": 42}),              # "text" not a string
        json.dumps({"id": "zen-5", "text": "   "}),           # blank text
        json.dumps({"id": 6, "text": zen[6], "lang": "en"}),  # integer id
    ]
    last = json.dumps({"id": "zen-7", "text": zen[9] + " " + zen[10], "lang": "en"})
    _write(edge / "bad_lines.jsonl", "\n".join(jl) + "\n" + last)  # no final newline

    # -- bad ----------------------------------------------------------------
    bad_dir = F / "bad"
    _write(bad_dir / "corrupt.pdf", corrupt_pdf(text_pdf(
        TUTORIAL_INTERACTIVE, title="Interactive Input Editing and History Substitution",
        author="Python Software Foundation", subject="The Python Tutorial, chapter 14",
        running_head="Python 3.11.2 documentation \u00bb The Python Tutorial \u00bb 14. Interactive Input Editing")))
    _write(bad_dir / "encrypted.pdf", encrypt_pdf(text_pdf(
        COPYRIGHT_AND_BSD0, title="Copyright", author="Python Software Foundation",
        subject="Python 3.11 documentation", running_head="Python 3.11.2 documentation \u00bb Copyright"),
        ENCRYPTED_USER_PASSWORD, ENCRYPTED_OWNER_PASSWORD))

    def scanned(c):
        _draw_scan_page(c, ZEN_OF_PYTHON.splitlines(), seed=1)
        _draw_shapes_page(c)
    _write(bad_dir / "scanned.pdf", _canvas_pdf(scanned, title="Scanned page"))

    rng = random.Random(42)
    blob = bytearray(b"\x7fELF\x02\x01\x01\x00" + bytes(8))
    while len(blob) < 4096:
        blob += bytes(rng.getrandbits(8) for _ in range(rng.randrange(8, 64)))
        blob += bytes(rng.randrange(1, 16))  # runs of NULs
    _write(bad_dir / "binary.txt", bytes(blob[:4096]))
    _write(bad_dir / "empty.txt", b"")
    _write(bad_dir / "whitespace_only.md", " \n\t\n   \r\n\u00a0\u3000\n\n")
    _write(bad_dir / "unknown.xyz", ZEN_OF_PYTHON)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=["samples", "fixtures"])
    ap.add_argument("--cranfield", type=Path, default=DEFAULT_CRANFIELD,
                    help="BEIR-format Cranfield folder (corpus.jsonl, queries.jsonl, qrels/test.tsv); "
                         "if missing, the committed JSONL files are left as they are")
    args = ap.parse_args(argv)
    _reportlab_setup()
    cranfield = args.cranfield if (args.cranfield / "corpus.jsonl").exists() else None
    if cranfield is None:
        print(f"note: no Cranfield data at {args.cranfield}; keeping the committed JSONL files",
              file=sys.stderr)
    if args.only in (None, "samples"):
        build_samples(cranfield)
    if args.only in (None, "fixtures"):
        build_fixtures(cranfield)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
