"""`python -m recipes.translate [options]` trains; `... translate --model DIR "¿Todavía está en casa?"` translates."""
from shared.entry import dispatch, quiet_start


def main(argv=None):
    quiet_start()
    from . import train, translator

    return dispatch(argv, {"translate": translator.main}, train.main)


if __name__ == "__main__":
    main()
