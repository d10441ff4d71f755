FROM trig AS builder
ADD blah.txt /src/blah.txt
RUN cat /src/blah.txt > /src/app

FROM trig
COPY --from=builder /src/app /app
RUN cat /app
