# cds-cyto CDS Hooks service. Build: docker build -t cds-cyto .   Run: see README ("Configuration").
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cds_cyto ./cds_cyto
RUN pip wheel --wheel-dir /wheels '.[postgres]'

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CDS_CYTO_HOST=0.0.0.0 CDS_CYTO_PORT=8000 \
    CDS_CYTO_HOOKS_DIR=/app/hooks CDS_CYTO_DEMO_DIR=/app/fixtures/cohort \
    CDS_CYTO_DATABASE_URL=sqlite:////data/cds-cyto.sqlite
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin cds \
    && mkdir -p /app /data && chown cds /data
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels
WORKDIR /app
COPY hooks ./hooks
COPY fixtures/cohort ./fixtures/cohort
USER cds
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os,urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CDS_CYTO_PORT', '8000'), timeout=4).status == 200 else 1)"
# Production by default: auth required (set CDS_CYTO_PUBLIC_BASE_URL and CDS_CYTO_TRUSTED_ISSUERS), patients from the
# prefetch and the EHR's fhirServer only. The synthetic demo runs only when asked, with its host given explicitly:
#   docker run -p 8000:8000 cds-cyto cds-cyto serve --demo --host 0.0.0.0
CMD ["cds-cyto", "serve"]
