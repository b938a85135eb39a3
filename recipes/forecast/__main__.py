"""`python -m recipes.forecast [options]` trains; `... predict --model DIR --csv PATH` forecasts the next days."""
from shared.entry import dispatch, quiet_start


def main(argv=None):
    quiet_start()
    from . import predict, train

    return dispatch(argv, {"predict": predict.main}, train.main)


if __name__ == "__main__":
    main()
