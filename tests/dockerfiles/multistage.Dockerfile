ARG BASE=corpus-base
ARG UNUSED
FROM ${BASE} AS build
COPY a.txt /src/a.txt
RUN cat /src/a.txt > /src/b.txt

FROM build AS second
RUN echo second

FROM $BASE
ARG BASE
COPY --from=build /src/b.txt /b.txt
COPY --from=0 /src/a.txt /a.txt
COPY --from=second /src/a.txt /c.txt
