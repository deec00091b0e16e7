package org.cdscyto.hapi;

import java.lang.management.ManagementFactory;
import java.util.Locale;
import java.util.TimeZone;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.ImportAutoConfiguration;
import org.springframework.boot.autoconfigure.context.PropertyPlaceholderAutoConfiguration;
import org.springframework.boot.autoconfigure.web.embedded.EmbeddedWebServerFactoryCustomizerAutoConfiguration;
import org.springframework.boot.autoconfigure.web.servlet.ServletWebServerFactoryAutoConfiguration;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.context.ApplicationListener;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Import;
import org.springframework.core.env.Environment;

/**
 * Entry point of the cds-cyto HAPI FHIR test server: a HAPI FHIR JPA server for FHIR R4
 * backed by an in-memory H2 database, served at {@code /fhir}.
 *
 * <p>Only the Spring Boot auto-configuration for the embedded servlet container is used
 * (no classpath-wide auto-configuration), so the many optional libraries that come with
 * hapi-fhir-jpaserver-base (Elasticsearch, springdoc, Thymeleaf, Flyway, ...) stay inert.
 *
 * <p>Command line: {@code java -jar hapi-test-server.jar --server.port=8080
 * --server.address=127.0.0.1}.
 */
@SpringBootConfiguration
@ImportAutoConfiguration({
	PropertyPlaceholderAutoConfiguration.class,
	ServletWebServerFactoryAutoConfiguration.class,
	EmbeddedWebServerFactoryCustomizerAutoConfiguration.class
})
@Import(FhirServerConfig.class)
public class HapiTestServer {

	public static void main(String[] args) {
		// Deterministic date handling: FHIR dates without an offset (e.g. "2026-01-10")
		// are interpreted in the JVM default zone by HAPI's date search parameters.
		TimeZone.setDefault(TimeZone.getTimeZone("UTC"));
		Locale.setDefault(Locale.ROOT);
		SpringApplication.run(HapiTestServer.class, args);
	}

	/**
	 * Prints one clear line once Tomcat is up and the FHIR servlet is initialised, and, if
	 * {@code --hapi.exit-with-pid=PID} is given, exits when that process does (so a test
	 * runner that dies without stopping the server does not leave an orphaned JVM behind).
	 */
	@Bean
	public ApplicationListener<ApplicationReadyEvent> readyBanner(Environment env) {
		return event -> {
			Long watchedPid = env.getProperty("hapi.exit-with-pid", Long.class);
			if (watchedPid != null) {
				ProcessHandle.of(watchedPid)
						.map(ProcessHandle::onExit)
						.orElseGet(() -> java.util.concurrent.CompletableFuture.completedFuture(null))
						.thenRunAsync(() -> {
							System.out.println("HAPI FHIR test server: process " + watchedPid + " is gone, exiting");
							System.exit(0);
						});
			}
			String host = env.getProperty("server.address", "127.0.0.1");
			String port = env.getProperty("local.server.port", env.getProperty("server.port", "8080"));
			double seconds = ManagementFactory.getRuntimeMXBean().getUptime() / 1000.0;
			System.out.printf(
					Locale.ROOT,
					"HAPI FHIR test server started: http://%s:%s/fhir (FHIR R4, H2 in-memory) in %.1f s%n",
					host,
					port,
					seconds);
			System.out.flush();
		};
	}
}
