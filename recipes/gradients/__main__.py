"""`python -m recipes.gradients [options]`: the four experiments, figures in --out (default runs/gradients)."""
from shared.entry import dispatch, quiet_start


def main(argv=None):
    quiet_start()
    from . import train

    return dispatch(argv, {}, train.main)


if __name__ == "__main__":
    main()
